import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_threads():
    """Tests share 2 cores with CI: one intra-op thread keeps them predictable and avoids oversubscription."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
