"""GRL, schedules, MMD, augmentation, Canny and the models: the parts the engine is built from."""

import math

import pytest
import torch

from explorer.dann.config import TrainConfig
from explorer.dann.grl import reverse_gradient
from explorer.dann.mmd import mmd
from explorer.dann.models import build
from explorer.dann.schedules import LambdaSchedule, learning_rate
from explorer.data.augment import canny, random_flip_rotate, to_grey
from explorer.errors import ExplorerError


def test_grl_is_identity_forward_and_flips_and_scales_gradients():
    x = torch.randn(5, 3, requires_grad=True)
    w = torch.randn(5, 3)
    y = reverse_gradient(x, 0.7)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, -0.7 * w)
    # finite differences of the forward give the identity; the backward reports -lambda times it
    x2 = torch.randn(4, dtype=torch.float64)
    eps = 1e-6
    numerical = torch.stack(
        [
            (reverse_gradient(x2 + eps * e, 0.7) - reverse_gradient(x2 - eps * e, 0.7)) / (2 * eps)
            for e in torch.eye(4, dtype=torch.float64)
        ]
    )
    analytical = torch.autograd.functional.jacobian(lambda t: reverse_gradient(t, 0.7), x2)
    assert torch.allclose(numerical, torch.eye(4, dtype=torch.float64))
    assert torch.allclose(analytical, -0.7 * numerical)
    x3 = torch.ones(2, requires_grad=True)
    reverse_gradient(x3, 2.0).sum().backward()
    assert x3.grad.tolist() == [-2.0, -2.0]


@pytest.mark.parametrize(
    "kind, lamb, expected",
    [
        ("constant", 0.1, (0.1, 0.1, 0.1)),
        ("dann", 1.0, (0.0, 2 / (1 + math.exp(-5)) - 1, 2 / (1 + math.exp(-10)) - 1)),
        ("log", 1.0, (math.log(1.02), math.log(1.87), math.log(2.72))),
        ("dann", 0.5, (0.0, 0.5 * (2 / (1 + math.exp(-5)) - 1), 0.5 * (2 / (1 + math.exp(-10)) - 1))),
    ],
)
def test_lambda_schedules(kind, lamb, expected):
    s = LambdaSchedule(kind, lamb)
    assert [s(p) for p in (0, 0.5, 1)] == pytest.approx(expected)
    curve = s.curve(11)
    assert len(curve) == 11 and curve[0][0] == 0 and curve[-1][0] == 1


def test_sgd_annealing_and_adam_constant():
    assert learning_rate("sgd", 0.01, 0) == 0.01
    assert learning_rate("sgd", 0.01, 1) == pytest.approx(0.01 / 11**0.75)
    assert learning_rate("adam", 1e-3, 0.7) == 1e-3


def test_mmd_zero_for_same_distribution_positive_for_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 8, generator=g), torch.randn(64, 8, generator=g)
    assert mmd(a, a).abs() < 1e-5
    assert mmd(a, b) < mmd(a, b + 2.0)


def test_flip_rotate_keeps_shape_and_flips_half():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(200, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    y = random_flip_rotate(x, g, degrees=0.0)
    flipped = torch.isclose(y, x.flip(-1), atol=1e-4).flatten(1).all(1)
    same = torch.isclose(y, x, atol=1e-4).flatten(1).all(1)
    assert (flipped | same).all() and 60 < flipped.sum() < 140


def test_canny_and_grey():
    img = torch.zeros(2, 3, 32, 32, dtype=torch.uint8)
    img[:, :, 8:24, 8:24] = 255
    edges = canny(img, 100, 200)
    assert edges.shape == (2, 1, 32, 32) and set(edges.unique().tolist()) == {0, 255}
    assert edges[0, 0, 16, 16] == 0 and edges[0, 0, 8:24, 8].any()
    assert to_grey(img).shape == (2, 1, 32, 32) and to_grey(img)[0, 0, 16, 16] == 255
    with pytest.raises(ExplorerError, match="low < high"):
        canny(img, 200, 100)


@pytest.mark.parametrize("width, channels, size", [(1.0, 1, 32), (0.25, 3, 32), (0.25, 1, 64)])
def test_models_shapes(width, channels, size):
    m = build(channels, 10, width)
    f = m["feature"](torch.zeros(3, channels, size, size))
    assert f.shape == (3, int(512 * width))
    assert m["label"](f).shape == (3, 10) and m["domain"](f).shape == (3,)


def test_homework_width_parameter_count():
    m = build(1, 10, 1.0)
    chans = [1, 64, 128, 256, 256, 512]  # conv3x3 weights + bias + BatchNorm scale and shift
    expected = sum(a * b * 9 + b + 2 * b for a, b in zip(chans, chans[1:]))
    assert sum(p.numel() for p in m["feature"].parameters()) == expected == 2_142_336


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"lamb": -0.1}, "lambda must be >= 0"),
        ({"canny": (200, 100)}, "low < high"),
        ({"batch_size": 1}, "batch size"),
        ({"method": "magic"}, "method must be one of"),
        ({"lr": 0}, "learning rate"),
    ],
)
def test_bad_configs_are_refused(kw, message):
    with pytest.raises(ExplorerError, match=message):
        TrainConfig(**kw)


def test_run_id_depends_on_config_data_and_device():
    c = TrainConfig()
    assert c.run_id("a", "cpu") == TrainConfig().run_id("a", "cpu")
    assert (
        len(
            {
                c.run_id("a", "cpu"),
                c.run_id("b", "cpu"),
                c.run_id("a", "cuda"),
                TrainConfig(lamb=0.5).run_id("a", "cpu"),
            }
        )
        == 4
    )
    assert TrainConfig.from_dict(TrainConfig(canny=(1, 2)).to_dict()) == TrainConfig(canny=(1, 2))


def test_density_curve_matches_edge_density():
    from explorer.data import edges
    from explorer.data.builtin import load_builtin

    ds = load_builtin()
    src, tgt = ds.source.images[:50], ds.target.images[:50]
    df = edges.density_curve(src, tgt, 0.5, highs=[100, 300])
    got = df[df.series.str.startswith("source")].density.tolist()
    assert got == pytest.approx([edges.edge_density(src, 50, 100), edges.edge_density(src, 150, 300)])
    assert got[0] > got[1]  # higher thresholds, fewer edges
    assert 0.1 < edges.foreground_density(tgt) < 0.5  # outline strokes on black


def test_domain_objective_scores_the_discriminator_and_reverses_only_with_grl():
    from explorer.dann.objective import domain_loss

    linear = torch.nn.Linear(2, 1)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 0.0]]))
        linear.bias.zero_()

    def discriminator(f):  # one logit per row, for any leading copy dimensions
        return linear(f).squeeze(-1)

    # 2 source, 2 target
    f = torch.tensor([[-1.0, 0.0], [-2.0, 0.0], [3.0, 0.0], [-4.0, 0.0]], requires_grad=True)
    out = domain_loss(discriminator, f, 2)
    assert out.correct.item() == 3  # the last target row looks like a source row
    plain = torch.autograd.grad(out.loss, f)[0]
    reversed_ = torch.autograd.grad(domain_loss(discriminator, f, 2, reverse=0.5).loss, f)[0]
    assert torch.allclose(reversed_, -0.5 * plain)
    # two stacked copies of the same batch, each reversed by its own lambda; numbers per copy
    f2 = torch.stack([f.detach(), f.detach()]).requires_grad_(True)
    both = domain_loss(discriminator, f2, 2, reverse=torch.tensor([0.5, 2.0]))
    assert (
        both.loss.shape == (2,)
        and both.correct.tolist() == [3, 3]
        and torch.allclose(both.loss, out.loss.detach().expand(2))
    )
    grads = torch.autograd.grad(both.loss.sum(), f2)[0]
    assert torch.allclose(grads[0], -0.5 * plain) and torch.allclose(grads[1], -2.0 * plain)


def test_ema_teacher_moves_a_fraction_towards_the_student_and_copies_statistics():
    from explorer.dann.models import build
    from explorer.dann.teacher import EmaTeacher

    student = build(1, 3, 0.125)
    teacher = EmaTeacher(student, decay=0.9)
    before = [p.clone() for p in teacher.model.parameters()]
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
        for b in student.buffers():
            b.add_(2)
    teacher.update(student)
    for t, b0, s in zip(teacher.model.parameters(), before, student.parameters()):
        assert torch.allclose(t, 0.9 * b0 + 0.1 * s)
    assert all(torch.equal(t, s) for t, s in zip(teacher.model.buffers(), student.buffers()))
    labels, mask = teacher.pseudo_labels(torch.rand(5, 1, 16, 16), threshold=0.0)
    assert labels.shape == (5,) and mask.tolist() == [1.0] * 5


def test_running_means_are_named_sums():
    from explorer.devices import Sums

    r = Sums()
    r.add(loss=torch.tensor(1.0), correct=torch.tensor(3))
    r.add(loss=torch.tensor(2.5), correct=torch.tensor(4))
    assert r.totals() == {"loss": 3.5, "correct": 7.0} and r.steps == 2
