"""The bodies of `keras-nextword suggest` and `keras-nextword export`.

`keras_nextword.cli.main` parses the command line and sets the backend first; each
function here imports Keras and the rest of the package only when it runs.
"""

import json

from keras_nextword.cli.commands import UsageError, load_model, missing_extra


def suggest(args):
    """`keras-nextword suggest MODEL TEXT... [-k K] [--json]`: one line of
    suggestions per text (or one JSON list), most likely first."""
    from keras_nextword.generation.suggest import suggest as suggest_words

    results = suggest_words(load_model(args.model), args.texts, k=args.k)
    if args.json:
        print(
            json.dumps(
                [
                    {"text": text, "suggestions": [{"word": w, "probability": p} for w, p in words]}
                    for text, words in zip(args.texts, results)
                ]
            )
        )
        return
    for words in results:
        print("  ".join(f"{w} ({p:.3f})" for w, p in words) or "(no suggestion)")


def export(args):
    """`keras-nextword export MODEL OUT --format F [--quantize] [-k K]`."""
    from keras_nextword.io.export import export as export_model

    for module in ("onnx", "tf2onnx") if args.format == "onnx" else ():
        missing = missing_extra(module, "export --format onnx")
        if missing:
            raise UsageError(missing)
    if args.quantize and args.format != "litert":
        raise ValueError(f"--quantize applies to --format litert only, not {args.format}")
    artifact = export_model(
        load_model(args.model), args.out, format=args.format, quantize=args.quantize, k=args.k
    )
    print(f"Saved {artifact} with {args.out}/vocabulary.txt and {args.out}/export.json")
