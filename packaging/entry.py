"""Entry script of the frozen build (packaging/arenadesk.spec).

desktop.__main__.main calls multiprocessing.freeze_support() first, which the
local model's "spawn" child process needs in a frozen build: the child is this
same executable started with --multiprocessing-fork.
"""
import sys

from desktop.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
