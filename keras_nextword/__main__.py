"""`python -m keras_nextword ...`: the `keras-nextword` command."""

import sys

from keras_nextword.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
