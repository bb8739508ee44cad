import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    """Tiny models: more threads only add overhead on the shared 2-core CI."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
