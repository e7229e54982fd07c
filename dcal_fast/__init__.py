"""```python
from dcal_fast.attention import *
from dcal_fast.model import *
from dcal_fast.datasets import *
from dcal_fast.data import *
from dcal_fast.losses import *
from dcal_fast.reid_eval import *
from dcal_fast.callbacks import *
from dcal_fast.learner import *
from dcal_fast.interpret import *
__all__ = [n for n in dir() if not n.startswith('_')]  # re-export everything the modules export
```"""

from importlib.metadata import version as _version, PackageNotFoundError
try: __version__ = _version('dcal_fast')  # settings.ini owns the version; setup.py puts it in the metadata
except PackageNotFoundError: __version__ = 'unknown'
