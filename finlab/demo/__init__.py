"""The bundled demo account and the fake Stripe that serves it.

`default_dataset` loads the account committed in ``data/``, `DemoStripe` answers Stripe API
requests from it (with injected `Faults` if asked) and `serve` puts it on a local port.
`finlab.demo.generator` rebuilds the account (``python -m finlab.demo.generator``); it is not
imported here so that running it as a module stays clean.
"""

from finlab.client import API_VERSION
from finlab.demo.dataset import Dataset, default_dataset, load, write
from finlab.demo.faults import Faults
from finlab.demo.loopback import LoopbackServer, serve
from finlab.demo.server import DEMO_API_KEY, DemoStripe, RecordedRequest, mask_key

__all__ = [
    "API_VERSION",
    "DEMO_API_KEY",
    "Dataset",
    "DemoStripe",
    "Faults",
    "LoopbackServer",
    "RecordedRequest",
    "default_dataset",
    "load",
    "mask_key",
    "serve",
    "write",
]
