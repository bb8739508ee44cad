"""One contract test class run on every architecture (tiny sizes)."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from napari_sciseg.dl.models import Ensemble, create_model, list_models, model_from_config
from napari_sciseg.dl.models.graph import random_smsnet_graph, receptive_radius
from napari_sciseg.dl.models.graphnet import GraphNetStack

TINY = {
    "smsnet": {"depth": 4, "width": 2},
    "tunet": {"depth": 2, "base_channels": 2},
    "msdnet": {"depth": 3, "max_dilation": 2},
    "tunet3plus": {"depth": 3, "base_channels": 2},
}
#: every architecture, plus the kernel sizes of the U-Nets (case id -> name, kwargs)
CASES = {name: (name, kw) for name, kw in TINY.items()}
CASES.update({
    "tunet-k5": ("tunet", {"depth": 2, "base_channels": 2, "kernel_size": 5}),
    "tunet-k7": ("tunet", {"depth": 2, "base_channels": 4, "kernel_size": 7}),
    "tunet3plus-k7": ("tunet3plus", {"depth": 2, "base_channels": 2, "kernel_size": 7}),
})


def make(name, ndim=2, cin=2, k=3, seed=0):
    arch, kwargs = CASES[name]
    net = create_model(arch, ndim=ndim, in_channels=cin, out_channels=k, seed=seed, **kwargs)
    return net.eval()


def test_every_registered_architecture_is_under_contract():
    assert set(list_models()) <= set(CASES)


@pytest.mark.parametrize("name", list(CASES))
class TestModelContract:
    @pytest.mark.parametrize("ndim", [2, 3])
    def test_forward_backward_odd_sizes(self, name, ndim):
        net = make(name, ndim=ndim).train()
        shape = (2, 2) + ((7, 9, 11) if ndim == 3 else (13, 21))
        x = torch.randn(shape, requires_grad=True)
        y = net(x)
        assert y.shape == (2, 3) + shape[2:]
        y.square().mean().backward()
        grads = [p.grad for p in net.parameters()]
        assert all(g is not None for g in grads)
        assert any(float(g.abs().sum()) > 0 for g in grads)

    def test_receptive_field_is_a_halo(self, name):
        net = make(name)
        r = net.receptive_field
        assert isinstance(r, int) and r >= 1

    def test_no_batch_dependence_at_inference(self, name):
        net = make(name)
        a = torch.randn(1, 2, 16, 16)
        b = torch.randn(1, 2, 16, 16) * 5
        with torch.no_grad():
            alone = net(a)
            together = net(torch.cat([a, b]))[:1]
        torch.testing.assert_close(alone, together, rtol=1e-4, atol=1e-5)

    def test_no_activations_kept(self, name):
        net = make(name)
        before = {k: v.clone() for k, v in net.state_dict().items()}
        attrs = set(vars(net))
        with torch.no_grad():
            net(torch.randn(1, 2, 12, 12))
        assert set(vars(net)) == attrs
        for k, v in net.state_dict().items():
            assert torch.equal(v, before[k])

    def test_config_rebuilds_identical_output(self, name):
        net = make(name, seed=3)
        clone = model_from_config(net.config).eval()
        clone.load_state_dict(net.state_dict())
        x = torch.randn(1, 2, 15, 10)
        with torch.no_grad():
            assert torch.equal(net(x), clone(x))

    def test_ensemble_of_one_equals_member(self, name):
        net = make(name)
        x = torch.randn(2, 2, 11, 12)
        with torch.no_grad():
            mean, std = Ensemble([net])(x)
            expected = torch.softmax(net(x), dim=1)
        torch.testing.assert_close(mean, expected)
        assert float(std.abs().max()) == 0.0

    def test_wrong_input_channels(self, name):
        with pytest.raises(ValueError, match=r"expects input \(B, C, Y, X\) with C=2"):
            make(name)(torch.zeros(1, 3, 8, 8))


def test_unknown_architecture_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown architecture 'unet'.*'smsnet', 'tunet'.*"
                                         r"'tunet3plus'"):
        create_model("unet", ndim=2, in_channels=1, out_channels=2)


@pytest.mark.parametrize("arch", ["tunet", "tunet3plus"])
def test_kernel_size_outside_3_5_7_is_refused(arch):
    with pytest.raises(ValueError, match=r"kernel_size must be one of 3, 5, 7.*got 4"):
        create_model(arch, ndim=2, in_channels=1, out_channels=2, kernel_size=4)


def test_tunet_kernel_sizes_change_weights_and_field():
    nets = {k: create_model("tunet", ndim=2, in_channels=1, out_channels=2, depth=2,
                            base_channels=2, kernel_size=k) for k in (3, 5, 7)}
    assert [tuple(n.down[0][0].weight.shape[2:]) for n in nets.values()] == [(3, 3), (5, 5),
                                                                             (7, 7)]
    fields = [n.receptive_field for n in nets.values()]
    assert fields[0] < fields[1] < fields[2]
    assert "kernel_size" not in nets[3].config["kwargs"]  # 3 x 3 files unchanged
    assert nets[7].config["kwargs"]["kernel_size"] == 7


def test_tunet3plus_decoder_sees_every_level():
    net = create_model("tunet3plus", ndim=2, in_channels=1, out_channels=2, depth=4,
                       base_channels=4, carryover_channels=3)
    assert [len(s) for s in net.skips] == [4, 4, 4]
    assert net.head.in_channels == 12


def test_smsnet_graph_is_seeded_and_every_node_connected():
    a = random_smsnet_graph(12, seed=5)
    assert a == random_smsnet_graph(12, seed=5)
    assert a != random_smsnet_graph(12, seed=6)
    targets = {t for _, t, _ in a["edges"]}
    sources = {s for s, _, _ in a["edges"]}
    assert targets == set(range(1, 14)) and sources == set(range(0, 13))
    assert all((d == 0) == (t == 13) for _, t, d in a["edges"])
    assert 0.0 <= a["gamma"] <= 0.5 and 0.75 <= a["alpha"] <= 1.0


def test_smsnet_members_differ_and_graph_is_saved():
    nets = [make("smsnet", seed=s) for s in range(3)]
    graphs = [n.config["kwargs"]["graph"]["edges"] for n in nets]
    assert graphs[0] != graphs[1] or graphs[1] != graphs[2]


def impulse_reach(net, ndim: int, offset: int) -> list[int]:
    """How far (pixels, per axis) an impulse near the centre moves any output."""
    r = net.receptive_field
    size = 2 * r + 7
    x = torch.randn((1, net.in_channels) + (size,) * ndim,
                    generator=torch.Generator().manual_seed(offset))
    c = size // 2 + offset
    with torch.no_grad():
        base = net(x)
        x[(0, 0) + (c,) * ndim] += 5.0
        changed = ((net(x) - base).abs().amax(1)[0] > 0).numpy()
    reach = []
    for axis in range(ndim):
        along = changed.any(axis=tuple(a for a in range(ndim) if a != axis))
        reach.append(int(np.abs(np.flatnonzero(along) - c).max()) if along.any() else -1)
    return reach


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name", list(CASES))
class TestReceptiveFieldContract:
    """The halo every architecture declares is what tiled prediction and predict_region
    rely on: a change at one pixel must move outputs no further than it."""

    def test_impulse_stays_inside_the_receptive_field(self, name, ndim):
        net = make(name, ndim=ndim, seed=1)
        r = net.receptive_field
        for offset in range(4 if ndim == 2 else 2):  # phases of a pooling grid
            reach = impulse_reach(net, ndim, offset)
            assert all(0 < d <= r for d in reach), (reach, r)
            if getattr(net, "graph", None) is not None:
                # graph networks (no pooling): the declared field is reached exactly
                assert reach == [r] * ndim, (reach, r)


def test_smsnet_receptive_field_is_the_longest_dilated_path():
    net = create_model("smsnet", ndim=2, in_channels=1, out_channels=2, depth=6, seed=2)
    assert net.receptive_field == receptive_radius(net.graph)
    assert impulse_reach(net, 2, 0) == [net.receptive_field] * 2


def test_stacked_members_match_single_members():
    graphs = [random_smsnet_graph(5, seed=s) for s in range(3)]
    singles = [create_model("smsnet", ndim=2, in_channels=1, out_channels=2, graph=g, seed=s)
               for s, g in enumerate(graphs)]
    stack = GraphNetStack(graphs, ndim=2, in_channels=1, out_channels=2, width=4)
    for m, single in enumerate(singles):
        stack.copy_member(m, single.net)
    x = torch.randn(1, 1, 19, 17)
    with torch.no_grad():
        out = stack(x.repeat(1, 3, 1, 1)).view(1, 3, 2, 19, 17)
        for m, single in enumerate(singles):
            torch.testing.assert_close(out[:, m], single(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ndim", [2, 3])
def test_dense_stack_matches_single_members_and_copies_back(ndim):
    from napari_sciseg.dl.stacks import stack_members

    node_dils = [1, 3, 2, 1]
    members = [create_model("smsnet", ndim=ndim, in_channels=2, out_channels=3, depth=4,
                            width=3, node_dilations=node_dils, seed=s) for s in range(3)]
    stack = stack_members(members)
    assert type(stack).__name__ == "_DenseStack"
    shape = (9, 10, 11) if ndim == 3 else (19, 17)
    x = torch.randn((1, 2) + shape)
    with torch.no_grad():
        out = stack(x.unsqueeze(1).expand((1, 3, 2) + shape))
        for m, single in enumerate(members):
            torch.testing.assert_close(out[:, m], single(x), rtol=1e-4, atol=1e-5)
        for p in stack.parameters():
            p.add_(0.1)
        stack.copy_to(members, [0, 1, 2])
        out = stack(x.unsqueeze(1).expand((1, 3, 2) + shape))
        for m, single in enumerate(members):
            torch.testing.assert_close(out[:, m], single(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shared", [True, False], ids=["one dilation per node", "per edge"])
def test_training_batch_norm_folds_into_members_exactly(shared):
    """The batch norm of a training stack, in eval mode, is what the members compute."""
    from napari_sciseg.dl.stacks import stack_members

    kwargs = {"depth": 4, "width": 3, "dilations": (1, 2, 3)}
    if shared:
        kwargs["node_dilations"] = [1, 3, 2, 1]
    members = [create_model("smsnet", ndim=2, in_channels=2, out_channels=3, seed=s, **kwargs)
               for s in range(3)]
    stack = stack_members(members, batch_norm=True)
    assert type(stack).__name__ == ("_DenseStack" if shared else "_GraphStack")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in stack.net.norm.parameters():
            p.uniform_(0.5, 1.5)
    stack.train()
    with torch.no_grad():
        for _ in range(5):  # running statistics far from the identity
            stack(torch.randn(2, 3, 2, 20, 20) * 3 + 1)
    stack.eval()
    x = torch.randn(1, 3, 2, 21, 19)
    with torch.no_grad():
        expected = stack(x)
        before = members[0](x[:, 0])
        stack.copy_to(members, range(3))
        got = torch.stack([m(x[:, i]) for i, m in enumerate(members)], dim=1)
    assert not torch.allclose(before, got[:, 0], atol=1e-3)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    # the members have no normalisation: a pixel's output does not depend on the batch
    with torch.no_grad():
        pair = members[0](torch.cat([x[:, 0], 5 * x[:, 1]]))
    torch.testing.assert_close(pair[:1], got[:, 0], rtol=1e-4, atol=1e-5)


def test_threaded_stacks_match_one_stack():
    """Members split over threads compute the same outputs, losses and gradients."""
    from napari_sciseg.dl.stacks import ThreadedStacks, member_losses_backward, stack_members

    def make():
        return [create_model("smsnet", ndim=2, in_channels=1, out_channels=2, depth=3, width=3,
                             node_dilations=[1, 2, 3], seed=s) for s in range(3)]

    torch.manual_seed(0)
    x = torch.randn(2, 3, 1, 16, 16)
    y = torch.randint(0, 2, (2, 3, 16, 16))

    def loss_fn(logits, target):  # per-member cross-entropy, (M,)
        return torch.stack([F.cross_entropy(logits[:, m], target[:, m])
                            for m in range(logits.shape[1])])

    one, threaded = stack_members(make(), batch_norm=True), ThreadedStacks(make(), 2,
                                                                           batch_norm=True)
    assert threaded.bounds == [(0, 2), (2, 3)]
    with threaded.single_threaded_ops():
        assert torch.get_num_threads() >= 1
        expected = member_losses_backward(one, x, y, loss_fn)
        got = member_losses_backward(threaded, x, y, loss_fn)
        torch.testing.assert_close(got, expected)
        torch.testing.assert_close(threaded.member_grad_norms(), one.member_grad_norms())
        one.eval()
        threaded.eval()
        with torch.no_grad():
            torch.testing.assert_close(threaded(x), one(x))
        members = make()
        threaded.copy_to(members, [2])
        with torch.no_grad():
            torch.testing.assert_close(members[2](x[:, 2]), one(x)[:, 2], rtol=1e-4, atol=1e-5)
    assert threaded._pool is None  # threads stopped when leaving
