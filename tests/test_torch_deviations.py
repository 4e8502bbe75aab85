"""The known deviations of torch's eager CPU optimizers, reproduced in plain torch (no adamspec).

Each test asserts that torch 2.13 still deviates; when one fails, torch has fixed it: remove the
entry from conformance/known_deviations.toml and the README's row (tests/test_builtin_adapters.py
then reports the entry as stale too).
"""

import math

import pytest

torch = pytest.importorskip("torch", reason="torch is an optional extra: pip install 'adamspec[torch]'")


@pytest.mark.parametrize("cls", [torch.optim.Adam, torch.optim.AdamW])
@pytest.mark.parametrize("kwargs", [{"lr": math.inf}, {"eps": math.inf}, {"weight_decay": math.inf}],
                         ids=["lr=inf", "eps=inf", "weight_decay=inf"])
def test_torch_accepts_an_infinite_hyperparameter(cls, kwargs):
    """VAL-1/2/4 rows lr=inf, eps=inf, weight_decay=inf: the checks are `0.0 <= x`."""
    cls([torch.nn.Parameter(torch.zeros(2))], **kwargs)  # constructs; a conforming one raises


@pytest.mark.parametrize("kwargs", [{"lr": -1.0}, {"eps": math.nan}, {"betas": (0.9, 1.0)}])
def test_torch_rejects_the_other_rows(kwargs):
    """...while it does reject the others (so the entries are keyed to their rows only)."""
    with pytest.raises(ValueError):
        torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], **kwargs)


@pytest.mark.parametrize("cls", [torch.optim.Adam, torch.optim.AdamW])
def test_fused_amsgrad_maximum_drops_nan(cls):
    """AMS-1 in non_finite: fused keeps the old max where v is NaN; for-loop propagates it."""
    out = {}
    for fused in (True, False):
        p = torch.nn.Parameter(torch.zeros(2))
        opt = cls([p], amsgrad=True, fused=fused, foreach=None if fused else False)
        p.grad = torch.tensor([math.nan, 1.0])
        opt.step()
        out[fused] = opt.state[p]["max_exp_avg_sq"]
    assert math.isnan(opt.state[p]["exp_avg_sq"][0])
    assert math.isnan(out[False][0]) and out[True][0].item() == 0.0


@pytest.mark.parametrize("cls, weight_decay", [(torch.optim.AdamW, 0.0), (torch.optim.Adam, 0.1)])
def test_fused_treats_a_strided_parameter_as_contiguous(cls, weight_decay):
    """Strided parameters in shapes_layouts: fused writes buf[0:numel] and leaves the view's tail."""
    buf = torch.zeros(10)
    p = torch.nn.Parameter(buf[::2])
    opt = cls([p], lr=1e-4, weight_decay=weight_decay, fused=True)
    p.grad = -torch.ones(5)
    opt.step()
    assert torch.all(p.detach()[3:] == 0)  # a correct step moves every element by ≈ +1e-4
    assert buf[1] != 0 and buf[3] != 0  # memory between the view's elements was written


def test_fused_handles_a_transposed_parameter_whose_gradient_has_its_strides():
    """A transposed parameter with a gradient of the same strides (what autograd usually makes) is fine."""
    out = []
    for fused in (True, False):
        p = torch.nn.Parameter((torch.arange(12.0).reshape(3, 4) + 1).t())
        opt = torch.optim.AdamW([p], lr=0.1, fused=fused)
        p.grad = (torch.arange(12.0).reshape(3, 4) - 5).t()
        opt.step()
        out.append(p.detach().clone())
    assert torch.equal(out[0], out[1])


@pytest.mark.parametrize("cls", [torch.optim.Adam, torch.optim.AdamW])
def test_fused_pairs_a_transposed_parameter_and_a_contiguous_gradient_by_memory_order(cls):
    """Transposed parameters in shapes_layouts: the gradient at [3, 0] lands in m at [1, 2], the
    element stored at the same memory offset; for-loop puts it at [3, 0]."""
    m = {}
    for fused in (True, False):
        p = torch.nn.Parameter(torch.zeros(3, 4).t())
        opt = cls([p], lr=0.1, betas=(0.0, 0.0), fused=fused, foreach=None if fused else False)
        g = torch.zeros(4, 3)
        g[3, 0] = 1.0
        p.grad = g
        opt.step()
        m[fused] = opt.state[p]["exp_avg"]
    assert m[False][3, 0] == 1.0 and m[False].sum() == 1.0
    assert m[True][3, 0] == 0.0 and m[True][1, 2] == 1.0
