"""Loss invariances: unlabeled pixels change nothing, class-weight scaling changes nothing."""

import pytest
import torch

from napari_sciseg.dl.losses import LOSSES, balanced_weights, member_losses, sparse_loss

ALL = list(LOSSES) + ["ce+dice", "focal+tversky"]


def batch(seed=0, k=3):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, k, 9, 10, generator=g)
    labels = torch.randint(0, k + 1, (2, 9, 10), generator=g)
    return logits, labels


@pytest.mark.parametrize("loss", ALL)
def test_unlabeled_pixels_change_nothing(loss):
    logits, labels = batch()
    logits.requires_grad_(True)
    value = sparse_loss(logits, labels, loss=loss)
    value.backward()
    unlabeled = (labels == 0).unsqueeze(1).expand_as(logits)
    assert float(logits.grad[unlabeled].abs().max()) == 0.0
    changed = logits.detach().clone()
    changed[unlabeled] = torch.randn(int(unlabeled.sum())) * 10
    torch.testing.assert_close(sparse_loss(changed, labels, loss=loss), value.detach())


@pytest.mark.parametrize("loss", ALL)
def test_scaling_class_weights_changes_nothing(loss):
    logits, labels = batch(1)
    w = torch.tensor([0.5, 2.0, 1.0])
    a = sparse_loss(logits, labels, loss=loss, class_weights=w)
    b = sparse_loss(logits, labels, loss=loss, class_weights=7 * w)
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("loss", ALL)
def test_no_labels_gives_zero_not_nan(loss):
    logits, _ = batch()
    value = sparse_loss(logits, torch.zeros(2, 9, 10, dtype=torch.long), loss=loss)
    assert float(value) == 0.0


@pytest.mark.parametrize("loss", ALL)
def test_perfect_prediction_is_near_minimal(loss):
    _, labels = batch(2)
    onehot = torch.nn.functional.one_hot((labels - 1).clamp(min=0), 3).movedim(-1, 1).float()
    good = sparse_loss(onehot * 40, labels, loss=loss)
    bad = sparse_loss(-onehot * 40, labels, loss=loss)
    assert float(good) < 1e-3 < float(bad)


def test_cross_entropy_matches_torch_on_labeled_pixels():
    logits, labels = batch(3)
    w = torch.tensor([1.0, 3.0, 0.5])
    expected = torch.nn.functional.cross_entropy(logits, labels - 1, weight=w, ignore_index=-1)
    torch.testing.assert_close(sparse_loss(logits, labels, class_weights=w), expected)


def test_members_are_independent():
    logits, labels = batch(4)
    stacked = torch.stack([logits, logits.flip(-1)], dim=1)
    targets = torch.stack([labels, labels], dim=1)
    per_member = member_losses(stacked, targets, loss="ce+dice")
    torch.testing.assert_close(per_member[0], sparse_loss(logits, labels, loss="ce+dice"))
    torch.testing.assert_close(per_member[1],
                               sparse_loss(logits.flip(-1), labels, loss="ce+dice"))


def test_balanced_weights_equalise_classes():
    w = balanced_weights([90, 10, 0])
    assert torch.allclose(w[:2] * torch.tensor([90.0, 10.0]), torch.tensor([50.0, 50.0]))
    assert float(w[2]) == 0.0


def test_unknown_loss_lists_valid_names():
    logits, labels = batch()
    with pytest.raises(ValueError, match=r"Unknown loss 'iou' in 'ce\+iou'.*'ce', 'dice'"):
        sparse_loss(logits, labels, loss="ce+iou")
