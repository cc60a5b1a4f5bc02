"""Settings for the whole test session."""

import signal

import pytest
import torch

# The in-process runs train networks of a few hundred units on batches of 8 to 32: one thread does that faster
# than two, and leaves the other core to the process a test starts beside them. A run given --threads sets its own
# (and tests.helpers.run_main puts this one back afterwards).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def signal_handlers_put_back():
    """A run in this process installs its own Ctrl-C and SIGTERM handlers; the next test gets pytest's back."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
