"""Run charlstm's command line with the POSIX-only parts of Python taken away, as on Windows:
`python tests/as_foreign_os.py train corpus.txt ...`. The modules fcntl, termios, resource, pwd and grp
cannot be imported, os.pread, os.pwrite and os.O_NOFOLLOW are gone, and os.kill raises (on Windows
os.kill(pid, 0) sends a console Ctrl-C). Used by tests/test_foreign_os.py."""

import os
import sys

POSIX_MODULES = ("fcntl", "termios", "resource", "pwd", "grp")
POSIX_OS = ("pread", "pwrite", "O_NOFOLLOW")

for name in POSIX_MODULES:
    sys.modules[name] = None  # `import fcntl` now raises ImportError
for name in POSIX_OS:
    if hasattr(os, name):
        delattr(os, name)


def kill(*args):
    raise OSError(87, "os.kill called under the foreign-OS run (on Windows, signal 0 is a console Ctrl-C)")


os.kill = kill

if __name__ == "__main__":
    import warnings

    # filelock says once that without fcntl it falls back to its portable lock: that fallback is what is tested
    warnings.filterwarnings("ignore", message="only soft file lock is available")
    from charlstm.cli import main
    main(sys.argv[1:])
