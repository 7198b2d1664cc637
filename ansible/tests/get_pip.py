"""ansible-test's pip bootstrap (its `get-pip-21.3.1.py`), without a download.

ansible-test 2.14 fetches that script from a host of its own before it builds a sanity
test's virtual environment; this machine reaches package registries only. It runs this
instead (copied to its cache, `$HOME/.ansible/test/cache/get_pip_21_3_1.py`): Python's
bundled pip first, then pip installs what ansible-test asked for (pip, setuptools, wheel
at its pinned versions) from the package index, as get-pip.py would.
"""

import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"],
                      stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *sys.argv[1:]])
