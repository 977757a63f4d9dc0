"""Training with a sampled softmax: the output layer at the targets and a few negatives.

With a large vocabulary the full softmax dominates training: for the Sherlock Holmes
canon (19,000 words) it is about 90% of an epoch. Here each step scores every real
position against its target and `num_sampled` other words (shared by the batch,
accidental hits masked), so the output layer costs `num_sampled / vocabulary` of the
full one: the first half of the ids (a `TextVectorization` vocabulary lists the most
frequent words first) exactly, the other half drawn uniformly from the remaining
words, their terms weighed by how many words each draw stands for. The softmax's sum
is then an unbiased estimate of the full one, and most of it is exact: the
frequent words carry most of a language model's probability mass. Evaluation, and
every perplexity reported, use the exact full softmax.
"""

import math

import keras
from keras import ops


def output_weights(model):
    """A `NextWordLSTM`'s output layer as `(projection, kernel, bias)`: the
    logits of hidden states `h` are `projection(h) @ kernel + bias`, where
    `projection` is a layer or None and `bias` None when tied."""
    if not model.backbone.tie_weights:
        return None, model.head.kernel, model.head.bias
    return model.head, ops.transpose(model.backbone.token_embedding.embeddings), None


class LossTrainer(keras.Model):
    """Trains a `NextWordLSTM`'s weights on its compiled loss alone.

    Keras updates a model's compiled metrics in every training step: with
    the `NextWordLSTM` defaults (accuracy, top-1 and top-3 suggestions,
    perplexity) `from_text` trained The Final Problem at 23,300 and 24,000
    words/s and reached held-out 90.6 at 6.3 and 6.2 s; through this trainer
    at 25,500 and 24,100 words/s, 5.9 and 6.0 s, along the same curve
    (`benchmarks/peer.py`'s `run_ours`, two runs each, alternating).
    `from_text` keeps the metrics (its history and the CLI's plot show them);
    `fit(training_metrics=False)` trains through this. A trainer shares every variable and the optimizer with
    `model`, so training it trains `model`, whose own metrics still score
    validation (`callbacks.Evaluation`). It is a training device, never saved.

    Args:
        model: a compiled `NextWordLSTM`.

    Example:
    >>> trainer = LossTrainer(model)  # doctest: +SKIP
    >>> trainer.compile(optimizer="adam")  # doctest: +SKIP
    >>> trainer.fit(dataset_of_x_y_weights, epochs=1)  # doctest: +SKIP
    """

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def call(self, token_ids, training=False):
        return self.model(token_ids, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return self.model.compute_loss(x, y, y_pred, sample_weight, training=training)


class SampledSoftmaxTrainer(LossTrainer):
    """Trains a `NextWordLSTM`'s weights with a sampled softmax loss.

    Its output is the language model's hidden states (after dropout); its loss
    is the sampled softmax cross-entropy of the head's logits (see the module),
    averaged over positions of sample weight > 0. It shares every variable
    with `model`, so training it trains `model`. It is a training device, never saved.

    Args:
        model: a `NextWordLSTM`.
        num_sampled: int, words scored beside the target per step: the
            `num_sampled // 2` first ids, and the rest drawn uniformly from the
            other ids.
        seed: int or None, for the negatives.

    Example:
    >>> trainer = SampledSoftmaxTrainer(model, num_sampled=1024)  # doctest: +SKIP
    >>> trainer.compile(optimizer="adam")  # doctest: +SKIP
    >>> trainer.fit(dataset_of_x_y_weights, epochs=1)  # doctest: +SKIP
    """

    def __init__(self, model, num_sampled, seed=None, **kwargs):
        if not 0 < num_sampled < model.backbone.vocabulary_size:
            raise ValueError(
                f"`num_sampled` must be in (0, vocabulary_size={model.backbone.vocabulary_size}). "
                f"Received: num_sampled={num_sampled!r}"
            )
        super().__init__(model, **kwargs)
        self.num_sampled = num_sampled
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, token_ids, training=False):
        hidden = self.model.backbone(token_ids, training=training)
        return self.model.get_layer("lstm_dropout")(hidden, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        projection, kernel, bias = output_weights(self.model)
        if projection is not None:
            y_pred = projection(y_pred)
        vocabulary = self.model.backbone.vocabulary_size
        y = ops.cast(y, "int32")
        frequent = self.num_sampled // 2
        drawn = self.num_sampled - frequent
        negatives = ops.concatenate(
            [
                ops.arange(frequent, dtype="int32"),
                keras.random.randint(
                    (drawn,), frequent, vocabulary, dtype="int32", seed=self.seed_generator
                ),
            ]
        )
        # Each drawn word stands for (vocabulary - frequent) / drawn words.
        weight = ops.concatenate(
            [ops.zeros((frequent,)), ops.full((drawn,), math.log((vocabulary - frequent) / drawn))]
        )
        target_logits = ops.einsum("blu,ubl->bl", y_pred, ops.take(kernel, y, axis=1))
        negative_logits = ops.matmul(y_pred, ops.take(kernel, negatives, axis=1))
        if bias is not None:
            target_logits = target_logits + ops.take(bias, y)
            negative_logits = negative_logits + ops.take(bias, negatives)
        negative_logits = negative_logits + ops.cast(weight, negative_logits.dtype)
        hit = ops.equal(ops.expand_dims(y, -1), negatives)
        negative_logits = ops.where(hit, -1e9, negative_logits)
        logits = ops.concatenate([ops.expand_dims(target_logits, -1), negative_logits], axis=-1)
        losses = ops.logsumexp(ops.cast(logits, "float32"), axis=-1) - ops.cast(
            target_logits, "float32"
        )
        weights = ops.cast(sample_weight, "float32")
        return ops.sum(losses * weights) / ops.maximum(ops.sum(weights), 1.0)
