"""The fast inference path of graph networks equals the reference per-member loop."""

import threading

import pytest
import torch

from napari_sciseg.dl.models import Ensemble, create_model


def _members(arch, ndim, n=3):
    if arch == "wide":  # one dilation per node: gathers of up to 26 channels (split convs)
        return [create_model("smsnet", ndim=ndim, in_channels=2, out_channels=3, depth=4,
                             width=8, node_dilations=[1, 2, 1, 3], seed=s) for s in range(n)]
    if arch == "msdnet":
        return [create_model("msdnet", ndim=ndim, in_channels=2, out_channels=3, depth=4,
                             seed=s) for s in range(n)]
    # p_il < 1 and random per-edge dilations: both contiguous and gathered node inputs
    return [create_model("smsnet", ndim=ndim, in_channels=2, out_channels=3, depth=5,
                         width=3, p_il=0.5, dilations=(1, 2, 3), seed=s) for s in range(n)]


def _reference(members, x):
    """Softmax mean and population std from the channels-last engine, member by member."""
    probs = torch.stack([torch.softmax(m.net._forward_channels_last(x), 1) for m in members])
    return probs.mean(0), probs.std(0, correction=0)


@pytest.mark.parametrize("arch", ["smsnet", "msdnet", "wide"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_ensemble_inference_equals_reference_loop(arch, ndim):
    members = _members(arch, ndim)
    ens = Ensemble(members).eval()
    shape = (7, 12, 11) if ndim == 3 else (23, 19)
    x = torch.randn((2, 2) + shape)
    with torch.no_grad():
        ref_mean, ref_std = _reference(members, x)
    with torch.inference_mode():
        mean, std = ens(x)
    torch.testing.assert_close(mean, ref_mean, rtol=0, atol=1e-5)
    torch.testing.assert_close(std, ref_std, rtol=0, atol=1e-5)
    # with autograd on, the concatenating path gives the same numbers
    grad_mean, grad_std = ens(x)
    torch.testing.assert_close(grad_mean.detach(), ref_mean, rtol=0, atol=1e-5)
    torch.testing.assert_close(grad_std.detach(), ref_std, rtol=0, atol=1e-5)


def test_channels_first_gradients_equal_channels_last():
    net = _members("smsnet", 2, n=1)[0].net
    x = torch.randn(2, 2, 15, 13)
    target = torch.randn(2, 3, 15, 13)
    grads = []
    for forward in (net._forward_channels_first, net._forward_channels_last):
        net.zero_grad()
        (forward(x) * target).sum().backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_workspace_is_reused_and_results_do_not_depend_on_it():
    net = _members("smsnet", 2, n=1)[0].net
    x = torch.randn(1, 2, 16, 16)
    workspace = torch.full((1, net.state_channels(), 16, 16), float("nan"))
    with torch.inference_mode():
        a = net(x)
        b = net(x, workspace)
        c = net(x, torch.empty(1, 3, 4, 4))  # wrong shape: ignored
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(a, c, rtol=0, atol=0)
    assert not torch.isnan(workspace).any()


def test_two_threads_predict_the_same():
    """No state is stored during forward: concurrent calls give the serial answer."""
    ens = Ensemble(_members("smsnet", 2)).eval()
    inputs = [torch.randn(1, 2, 40, 40) for _ in range(2)]
    with torch.inference_mode():
        serial = [ens(x)[0] for x in inputs]
    results = [None, None]

    def work(i):
        with torch.inference_mode():
            for _ in range(5):
                results[i] = ens(inputs[i])[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, serial):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_default_cpu_windows_are_cache_sized_and_exact():
    """On CPU the default 2D windows are <= 384 px, share each axis evenly and the
    stitched result equals one untiled pass."""
    from types import SimpleNamespace

    import numpy as np

    from napari_sciseg.dl.prediction import _plan, predict

    members = [create_model("smsnet", ndim=2, in_channels=1, out_channels=2, depth=3,
                            dilations=(1, 2), width=2, seed=s) for s in range(2)]
    cfg = SimpleNamespace(in_channels=1, n_classes=2, model_ndim=2, dim="2", slice_axis=0,
                          normalize=lambda x: np.asarray(x, np.float32) / 255.0)
    trained = SimpleNamespace(network=Ensemble(members).eval(), config=cfg)
    image = np.random.default_rng(1).integers(0, 255, (400, 700)).astype(np.uint8)
    halo = trained.network.receptive_field
    plan = _plan(trained, image, None, None, None, cpu=True)
    assert all(t <= 384 for t in plan.tile)
    assert plan.tile == (-(-400 // 2) + 2 * halo, -(-700 // 2) + 2 * halo)
    tiled = predict(trained, image, device="cpu")
    whole = predict(trained, image, device="cpu", tile=2000)
    np.testing.assert_allclose(tiled.mean, whole.mean, atol=1e-5)
    np.testing.assert_allclose(tiled.std, whole.std, atol=1e-5)


@pytest.mark.parametrize("ndim", [2, 3])
def test_inference_under_autocast_is_close_to_float32(ndim):
    """AMP inference (the GPU check runs it on CUDA in float16): the state buffer stays
    float32 while the convolutions return half precision; bfloat16 here on the CPU
    (8 significant bits, coarser than float16's 11) stays within the check's 2e-2."""
    members = _members("smsnet", ndim)
    ens = Ensemble(members).eval()
    x = torch.randn((1, 2) + (20,) * ndim, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        mean, _ = ens(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half, _ = ens(x)
    assert half.dtype == torch.float32 or half.dtype == torch.bfloat16
    assert float((half.float() - mean).abs().max()) < 2e-2
