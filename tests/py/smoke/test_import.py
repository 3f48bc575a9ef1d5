"""test_import.py -- the venv sees the built tbwal package and the pinned
packages the other suites rely on."""
import tbwal


def test_tbwal_imports_from_the_build():
    assert tbwal.__version__
    assert tbwal.SummaryWriter


def test_pinned_torch_is_the_cpu_build():
    import torch
    assert torch.__version__.startswith("2.13.0")
    assert not torch.cuda.is_available()


def test_tensorboard_and_its_data_server_are_installed():
    import tensorboard
    import tensorboard_data_server
    assert tensorboard.__version__
    assert tensorboard_data_server.server_binary() is not None
