import pytest


@pytest.fixture(autouse=True, scope="session")
def _few_threads(few_torch_threads):
    """Every deep-learning test runs torch on one thread (see ``few_torch_threads``)."""
    yield
