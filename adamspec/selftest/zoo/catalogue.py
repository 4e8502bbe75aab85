"""The zoo's catalogue: every member with the mode it claims, the SPEC clauses of which at least
one must reject it, the real-world bug class it stands for, where that class was reported, and
its witness (witness.py); ``CONTROLS`` are the correct classes under their three honest claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from adamspec.adapters.torch_optim import TorchClassAdapter
from adamspec.selftest.zoo.mutants import (
    AbsGradInSecondMoment,
    AdvancesStateWithoutGrad,
    AmsgradMaxDropsNaN,
    AmsgradMaxNotStored,
    AmsgradMaxStoredInV,
    AmsgradOverVhat,
    BetaPowerFromHalfBeta,
    BiasCorrectionAtNextStep,
    BiasCorrectionAtPreviousStep,
    BiasCorrectionFirstMomentOnly,
    BiasCorrectionSecondMomentOnly,
    CachesLrAtFirstStep,
    CorrectedDecay,
    CoupledL2AsAdamW,
    DecayAfterUpdate,
    DecayNotScaledByLr,
    DecayScaledByBiasCorrectedLr,
    DecaysParamsWithoutGrad,
    DecoupledAsAdamL2,
    DenominatorFloor,
    EpsFloor,
    EpsHat,
    EpsInsideRoot,
    EpsOverSqrtBc2,
    EpsSquaredInsideRoot,
    FirstGroupWeightDecay,
    HalfPrecisionArithmetic,
    L2AddedToGradInPlace,
    L2OnlyInFirstMoment,
    MaximizeAfterL2,
    MaximizeFlipsUpdate,
    MaximizeIgnored,
    MaximizeNegatesGradInPlace,
    NaNGradientsMasked,
    NoBiasCorrection,
    NoValidation,
    OnlyFirst65536Elements,
    OutOfPlaceUpdate,
    OwnStepCounter,
    SharedStepCounter,
    SkipsOddTailElement,
    StateInFloat32,
    StepCounterAdvancedTwice,
    StepCounterInBfloat16,
    StepCounterNotAdvanced,
    SwappedBetas,
    ValidationLetsInfinityThrough,
    ValidationMessageUnnamed,
    ZeroGradTreatedAsAbsent,
    ZeroLrFirstStepSkipsStateInit,
    ZeroLrSkipsStep,
)
from adamspec.selftest.zoo.reference_adam import ReferenceAdam, ReferenceAdamW
from adamspec.selftest.zoo.witness import hyper_kwargs


@dataclass(frozen=True)
class Mutant:
    """A zoo member: the class, the mode it claims and what should reject it.

    expected_clauses: SPEC clause IDs; at least one of them must fail for this member (empty
        for a control). crashes: the member raises on some inputs by design, so an "error"
        verdict also counts as rejection.
    witness: a concrete input on which the member and the correct control disagree (see
        :func:`observe` for its keys).
    """

    name: str
    cls: type
    claim: str
    expected_clauses: tuple[str, ...]
    bug: str
    source: str
    witness: dict = field(default_factory=dict, compare=False, hash=False)
    crashes: bool = False




def _w1(theta, grad, *, state=None, dtype="float64", steps=1, **hyper):
    """A witness with one group, one parameter, the same gradient for ``steps`` steps."""
    return {"dtype": dtype,
            "groups": [{"hyper": hyper_kwargs(**hyper), "params": [{"theta": theta, "state": state}]}],
            "grads": [[grad] for _ in range(steps)]}


def _st(m, v, step, vmax=None):
    return {"m": m, "v": v, "vmax": vmax, "step": step}


_GENERIC = _w1([1.0, -2.0, 0.5], [0.3, -0.1, 2.0], state=_st([0.1, 0.2, -0.3], [0.04, 0.01, 1.0], 7),
               lr=0.1, weight_decay=0.1)

MUTANTS: list[Mutant] = [
    # --- decoupled decay ---------------------------------------------------------------------
    Mutant("decay_after_update", DecayAfterUpdate, "adamw", ("AW-1", "AD-1", "AD-6", "VAR-2"),
           "decoupled decay multiplies the already updated parameter: (θ − α·u)·(1 − α·λ)",
           "huggingface/transformers #14539 (AdamW decayed p.data after the update); "
           "kyleliang919/C-Optim #3; stanford-cs336/assignment1-basics #54",
           _w1([1.0], [1.0], lr=1.0, weight_decay=0.5)),
    Mutant("decay_not_scaled_by_lr", DecayNotScaledByLr, "adamw", ("AW-4", "AW-1", "AW-3", "VAR-3"),
           "decoupled decay θ·(1 − λ), independent of the learning rate",
           "tensorflow/addons #2282 (DecoupledWeightDecayExtension subtracts wd·θ, not lr·wd·θ); "
           "pytorch/pytorch #38853 (the paper's η_t·λ form)",
           _w1([1.0], [0.0], lr=0.01, weight_decay=0.1)),
    Mutant("corrected_decay", CorrectedDecay, "adamw", ("GRP-4",),
           "decoupled decay θ·(1 − (α²/α_max)·λ), α_max the lr the group was built with: canonical "
           "until a schedule lowers α, then decaying by α/α_max less",
           "huggingface/pytorch-image-models corrected_weight_decay (timm's AdamW, lr**2 / max_lr); "
           "SPEC VAR-3 corrected",
           {**_w1([1.0], [0.0], steps=2, lr=0.1, weight_decay=0.5), "lr_at": [0.1, 0.01]}),
    Mutant("decay_scaled_by_bias_corrected_lr", DecayScaledByBiasCorrectedLr, "adamw",
           ("AW-4", "AW-1", "AW-3"),
           "decay scaled by the bias-corrected step size α/(1 − β1^t) instead of α",
           "Oneflow-Inc/oneflow PR #5960 review (bias correction folded into lr also scaled the "
           "weight decay)",
           _w1([1.0], [0.0], lr=0.01, weight_decay=0.5)),
    Mutant("coupled_l2_as_adamw", CoupledL2AsAdamW, "adamw", ("AW-2", "AW-3", "AW-1"),
           "coupled L2 (λθ added to the gradient) sold as AdamW",
           "nntrainer/nntrainer PR #3565 (AdamW applied its decay through the gradient); "
           "Loshchilov & Hutter 2019 §2",
           _w1([1.0], [0.0], state=_st([0.0], [1.0], 10), lr=0.1, weight_decay=0.1)),
    Mutant("decoupled_as_adam_l2", DecoupledAsAdamL2, "adam_l2", ("L2-1", "L2-2", "L2-3"),
           "decoupled decay sold as Adam with coupled L2 regularisation",
           "pytorch/pytorch PR #4429 (one l2_reg flag switching Adam between L2 and decoupled "
           "decay); Loshchilov & Hutter 2019 §2",
           _w1([1.0], [0.0], state=_st([0.0], [1.0], 10), lr=0.1, weight_decay=0.1)),
    Mutant("l2_only_in_first_moment", L2OnlyInFirstMoment, "adam_l2", ("L2-2", "AD-3", "L2-3"),
           "the L2 term enters m but v is built from the raw gradient",
           "SPEC L2-2 rationale (λθ in m only is neither Adam+L2 nor AdamW); no upstream report found",
           _w1([1.0], [0.0], lr=0.1, weight_decay=0.5)),
    # --- ε -------------------------------------------------------------------------------------
    Mutant("eps_hat", EpsHat, "adam", ("AD-5", "AD-7", "VAR-4"),
           "ε-hat: ε added to √v before the bias correction, i.e. ε/√(1 − β2^t) in the canonical form",
           "Kingma & Ba §2 (Keras/TF epsilon-hat); tensorflow/tensorflow #9047; keras-team/keras #17391",
           _w1([0.0], [1e-8], lr=0.1, eps=1e-8)),
    Mutant("eps_over_sqrt_bias_correction", EpsOverSqrtBc2, "adamw", ("AD-5", "AD-7", "VAR-4"),
           "ε scaled by 1/√(1 − β2^t) (same exact value as ε-hat, evaluated after the correction)",
           "aiqm/torchani PR #261 (ε scaled by √bias_correction2, inherited from pre-2019 "
           "torch.optim.Adam)",
           _w1([0.0], [1e-8], lr=0.1, eps=1e-8)),
    Mutant("eps_inside_root", EpsInsideRoot, "adam", ("AD-5", "AD-7", "VAR-4"),
           "ε inside the square root: m̂/√(v̂ + ε)",
           "keras-team/tf-keras #315; CyberZHG/keras-radam #29; FluxML/Flux.jl PR #448",
           _w1([0.0], [1e-3], lr=0.1, eps=1e-8)),
    Mutant("eps_squared_inside_root", EpsSquaredInsideRoot, "adamw", ("AD-5", "AD-7", "VAR-4"),
           "√(v̂ + ε²) in place of √v̂ + ε (the 'ε² inside' variant of the root placement)",
           "sail-sg/Adan #8 (ε inside the root in the paper, outside in the code); SPEC VAR-4",
           _w1([0.0], [1e-8], lr=0.1, eps=1e-8)),
    Mutant("eps_floor", EpsFloor, "adamw", ("AD-5", "AD-7", "VAR-4"),
           "ε as a floor on the root, m̂/max(√v̂, ε), in place of √v̂ + ε",
           "SPEC VAR-4 floor (the floor form discussed as an alternative to torch's √v̂ + ε; "
           "no shipped implementation located)",
           _w1([0.0], [1e-8], lr=0.1, eps=1e-8)),
    Mutant("denominator_floor", DenominatorFloor, "adam", ("AD-5", "AD-9", "AD-7"),
           "a hidden floor on √v̂ (clamp to 1e-12) to avoid division by ~0",
           "NVIDIA/apex PR #799 (guarding v̂ ≈ 0 in multi_tensor_adam); SPEC AD-9 rationale",
           _w1([0.0], [1e-14], lr=0.1, eps=0.0)),
    # --- bias correction ---------------------------------------------------------------------
    Mutant("no_bias_correction", NoBiasCorrection, "adam", ("AD-4", "AD-7", "VAR-5"),
           "no bias correction (m̂ = m, v̂ = v)",
           "BVLC/caffe #4224; oxiglade/mlx-rs #301",
           _w1([0.0], [1.0], lr=0.1)),
    Mutant("bias_correction_at_t_prev", BiasCorrectionAtPreviousStep, "adam", ("AD-4", "AD-1", "AD-7"),
           "bias correction with the count before the increment (t − 1): 1 − β^0 = 0 at the first "
           "step",
           "keras-team/keras PR #10129 review (correction at t = 0 divides by zero); SPEC AD-4 rationale",
           _w1([0.0], [1.0], state=_st([0.5], [0.5], 3), lr=0.1), crashes=True),
    Mutant("bias_correction_at_t_plus_1", BiasCorrectionAtNextStep, "adamw", ("AD-4", "AD-1", "AD-7"),
           "bias correction one step ahead (t + 1), a count started at 1 and incremented again",
           "Oneflow-Inc/oneflow PR #5960 review (a train step counted from 0 in one path and from 1 "
           "in another, '+1' inside the kernel)",
           _w1([0.0], [1.0], lr=0.1)),
    Mutant("bias_correction_m_only", BiasCorrectionFirstMomentOnly, "adam", ("AD-4", "AD-7", "VAR-5"),
           "only the first moment is bias-corrected (VAR-5 m, undeclared)",
           "google-deepmind/optax PR #1423 (a separate bias_correction_v switch for AMSGrad); "
           "SPEC AD-4, VAR-5",
           _w1([0.0], [1.0], lr=0.1)),
    Mutant("bias_correction_v_only", BiasCorrectionSecondMomentOnly, "adamw", ("AD-4", "AD-7"),
           "only the second moment is bias-corrected",
           "online-ml/river PR #185 discussion (AMSGrad with m not bias-corrected); SPEC AD-4",
           _w1([0.0], [1.0], lr=0.1)),
    Mutant("beta_power_from_half_beta", BetaPowerFromHalfBeta, "adam", ("DT-4", "AD-4"),
           "β^t formed from β rounded to binary16 (held precision not declared)",
           "tenstorrent/tt-metal #55935 (β held in bf16: β2 = 0.999 becomes another β, β^t moves)",
           _w1([0.0], [1.0], state=_st([1.0], [1.0], 999), lr=0.1)),
    # --- moments -------------------------------------------------------------------------------
    Mutant("swapped_betas", SwappedBetas, "adam", ("AD-2", "AD-3", "AD-4"),
           "β1 and β2 swapped",
           "SPEC AD-2/AD-3 rationale (no single upstream report found)",
           _w1([0.0], [1.0], state=_st([0.0], [0.0], 5), lr=0.1)),
    Mutant("abs_grad_in_second_moment", AbsGradInSecondMoment, "adamw", ("AD-3", "AD-9"),
           "|g| instead of g² in the second moment",
           "SPEC AD-3 rationale (no single upstream report found)",
           _w1([0.0], [3.0], lr=0.1)),
    # --- AMSGrad -------------------------------------------------------------------------------
    Mutant("amsgrad_over_vhat", AmsgradOverVhat, "adam", ("AMS-1", "VAR-6"),
           "AMSGrad maximum over bias-corrected v̂ (stored corrected)",
           "google-deepmind/optax #1389 (optax took the max over v̂, torch/TF over v); "
           "pytorch/pytorch #142323",
           _w1([0.0], [0.0], state=_st([0.1], [0.5], 3, vmax=[1.0]), lr=0.1, amsgrad=True)),
    Mutant("amsgrad_max_not_stored", AmsgradMaxNotStored, "adamw", ("AMS-3", "AMS-1", "AMS-2"),
           "AMSGrad uses max(v_max, v) but never writes the maximum back",
           "ooples/AiDotNet PR #1350 review (the AMSGrad max buffer was not kept with the state); "
           "SPEC AMS-3",
           _w1([0.0], [1.0], lr=0.1, amsgrad=True)),
    Mutant("amsgrad_max_stored_in_v", AmsgradMaxStoredInV, "adam", ("AMS-1", "AD-3"),
           "the AMSGrad maximum overwrites exp_avg_sq (v) as well",
           "SPEC AMS-1 rationale (storing v_max in place of v breaks AD-3)",
           _w1([0.0], [0.0], state=_st([0.1], [0.5], 3, vmax=[1.0]), lr=0.1, amsgrad=True)),
    Mutant("amsgrad_max_drops_nan", AmsgradMaxDropsNaN, "adam", ("AMS-1", "NF-1", "NF-2"),
           "AMSGrad maximum with fmax: a NaN second moment hides behind the stale maximum",
           "SPEC AMS-1 rationale (a maximum that drops NaN); no upstream report found",
           _w1([0.0], [float("nan")], state=_st([0.0], [0.0], 3, vmax=[1.0]), lr=0.1, amsgrad=True)),
    # --- maximize ------------------------------------------------------------------------------
    Mutant("maximize_ignored", MaximizeIgnored, "adam", ("MAX-1", "MAX-2"),
           "maximize accepted but ignored",
           "kozistr/pytorch_optimizer PR #527 (seven optimizers took maximize and never applied it)",
           _w1([0.0], [1.0], lr=0.1, maximize=True)),
    Mutant("maximize_after_l2", MaximizeAfterL2, "adam_l2", ("MAX-1", "L2-1"),
           "maximize negates g + λθ, so the L2 term grows the weights",
           "kozistr/pytorch_optimizer PR #528 (maximize vs weight-decay order); SPEC L2-1 rationale",
           _w1([1.0], [0.0], lr=0.1, weight_decay=0.5, maximize=True)),
    Mutant("maximize_flips_update", MaximizeFlipsUpdate, "adam", ("MAX-1", "MAX-2", "AD-2"),
           "maximize implemented by flipping the step's sign: moments built from +g",
           "pytorch/pytorch PR #68164 review (flipping lr instead of the gradient leaves the "
           "statistics wrong)",
           _w1([0.0], [1.0], lr=0.1, maximize=True)),
    # --- inputs and in-place update ------------------------------------------------------------
    Mutant("l2_added_to_grad_in_place", L2AddedToGradInPlace, "adam_l2", ("MUT-1",),
           "coupled L2 written into p.grad in place (grad.add_(p, alpha=wd))",
           "pytorch/pytorch PR #12107 and #12218 (weight decay added to .grad in place)",
           _w1([1.0], [0.5], lr=0.1, weight_decay=0.1)),
    Mutant("maximize_negates_grad_in_place", MaximizeNegatesGradInPlace, "adamw", ("MUT-1",),
           "maximize negates p.grad in place (grad.neg_())",
           "kozistr/pytorch_optimizer PR #528 (in-place grad.neg_() in Adai); "
           "pytorch/pytorch PR #127214 review",
           _w1([1.0], [0.5], lr=0.1, maximize=True)),
    Mutant("out_of_place_update", OutOfPlaceUpdate, "adam", ("MUT-2",),
           "p.data = p − step: a new tensor replaces the parameter's storage",
           "nntrainer/nntrainer #241 (the optimizer updated a copy, not the model's weights); "
           "SPEC MUT-2",
           _w1([1.0], [0.5], lr=0.1)),
    # --- precision and dtypes -------------------------------------------------------------------
    Mutant("half_precision_arithmetic", HalfPrecisionArithmetic, "adamw",
           ("DT-2", "NUM-2", "NUM-3", "AD-1"),
           "the step computed in float16 for float32/float64 parameters (undeclared)",
           "tensorflow/tensorflow #2288 (Adam in fp16: ε = 1e-8 vanishes); SPEC DT-2",
           _w1([1.0], [1e-8], lr=0.1, dtype="float32")),
    Mutant("state_in_float32", StateInFloat32, "adam", ("DT-1", "DT-3", "NUM-2"),
           "m, v kept in float32 for float64 (and bfloat16) parameters, undeclared",
           "pytorch/pytorch #43706 (optimizer state dtype changed behind the user's back); "
           "nntrainer/nntrainer PR #3565 (state dtype policy)",
           _w1([1.0], [0.1], lr=0.1)),
    # --- step counter ---------------------------------------------------------------------------
    Mutant("step_counter_not_advanced", StepCounterNotAdvanced, "adam", ("STATE-2", "STATE-1", "AD-4"),
           "the count t_prev + 1 is used but never stored",
           "SPEC STATE-2; no single upstream report found",
           _w1([0.0], [1.0], lr=0.1, steps=2)),
    Mutant("step_counter_advanced_twice", StepCounterAdvancedTwice, "adamw",
           ("STATE-2", "STATE-1", "API-2", "AD-4"),
           "the count is advanced twice per step",
           "SPEC API-2 rationale (wrappers that step twice); clab/dynet #77 (count advanced per "
           "parameter update rather than per round)",
           _w1([0.0], [1.0], lr=0.1, steps=2)),
    Mutant("step_counter_in_bfloat16", StepCounterInBfloat16, "adam", ("STATE-5", "STATE-2", "AD-4"),
           "the step count held in bfloat16: t + 1 rounds back to t beyond 256",
           "pytorch/ao PR #4915 (Adam step counter saturating at 256 under a bf16 default dtype)",
           _w1([0.0], [1.0], state=_st([1.0], [1.0], 300), lr=0.1, betas=(0.9, 0.999))),
    Mutant("shared_step_counter", SharedStepCounter, "adam", ("STATE-2", "GRP-2", "AD-4"),
           "one step count for all parameters: a parameter that skipped steps gets the wrong t",
           "SPEC STATE-2 rationale (frozen layers, conditional branches); clab/dynet #77 (scope "
           "of the Adam step count)",
           {"dtype": "float64",
            "groups": [{"hyper": hyper_kwargs(lr=0.1), "params": [{"theta": [0.0]}, {"theta": [0.0]}]}],
            "grads": [[[1.0], None], [[1.0], [1.0]]]}),
    # --- parameters without gradient, zero gradients, groups, lr = 0 ----------------------------
    Mutant("decays_params_without_grad", DecaysParamsWithoutGrad, "adamw", ("NOGRAD-1", "API-2"),
           "decoupled decay applied to parameters whose grad is None",
           "KellerJordan/Muon #54 (weight decay applied to parameters whose gradient is None)",
           {"dtype": "float64",
            "groups": [{"hyper": hyper_kwargs(lr=0.1, weight_decay=0.5), "params": [{"theta": [1.0]},
                                                                            {"theta": [1.0]}]}],
            "grads": [[[1.0], None]]}),
    Mutant("advances_state_without_grad", AdvancesStateWithoutGrad, "adam", ("NOGRAD-2", "STATE-2"),
           "state created and the count advanced for parameters without gradient",
           "SPEC NOGRAD-2 rationale (a skipped parameter resumes with a wrong bias correction)",
           {"dtype": "float64",
            "groups": [{"hyper": hyper_kwargs(lr=0.1), "params": [{"theta": [1.0]}, {"theta": [1.0]}]}],
            "grads": [[[1.0], None]]}),
    Mutant("zero_grad_treated_as_absent", ZeroGradTreatedAsAbsent, "adamw", ("NOGRAD-3", "AW-3"),
           "an all-zero gradient is skipped like a missing one (no decay, no count)",
           "SPEC NOGRAD-3 rationale (skipping unused embedding rows); no upstream report found",
           _w1([1.0], [0.0], lr=0.1, weight_decay=0.5)),
    Mutant("first_group_weight_decay", FirstGroupWeightDecay, "adamw", ("GRP-1", "GRP-3"),
           "every group decayed with the first group's weight_decay",
           "rwth-i6/returnn #1439 (per-parameter weight decay ignored, the global value used); "
           "SPEC GRP-1 rationale",
           {"dtype": "float64",
            "groups": [{"hyper": hyper_kwargs(lr=0.1, weight_decay=0.5), "params": [{"theta": [1.0]}]},
                       {"hyper": hyper_kwargs(lr=0.1, weight_decay=0.0), "params": [{"theta": [1.0]}]}],
            "grads": [[[0.0], [0.0]]]}),
    Mutant("zero_lr_skips_step", ZeroLrSkipsStep, "adamw", ("AD-11", "STATE-1"),
           "lr = 0 returns early: m, v and t are frozen during warm-up",
           "SPEC AD-11 rationale (warm-up schedules start at α = 0); no upstream report found",
           _w1([1.0], [1.0], lr=0.0)),
    # --- schedules and resumption ----------------------------------------------------------------
    Mutant("caches_lr_at_first_step", CachesLrAtFirstStep, "adamw", ("GRP-4",),
           "each group's lr and betas captured at the first step and reused: a schedule never applies",
           "tests/test_torch_compiled.py (torch's FX graph cache gave a compiled opt.step a stale β₂, "
           "found here); SPEC GRP-4 rationale",
           {**_w1([1.0], [1.0], steps=2, lr=0.1), "lr_at": [0.1, 0.001]}),
    Mutant("own_step_counter", OwnStepCounter, "adam", ("STATE-6", "STATE-3", "AD-4", "AD-1"),
           "a step counter kept on the optimizer beside the state: a resumed (or injected) run "
           "restarts the bias correction",
           "OpenNMT/OpenNMT-py #617 (a resumed run rebuilt the optimizer and lost Adam's state); "
           "SPEC STATE-6 rationale",
           {**_w1([1.0], [1.0], steps=3, lr=0.1), "resume_at": 2}),
    Mutant("zero_lr_first_step_skips_state", ZeroLrFirstStepSkipsStateInit, "adamw",
           ("GRP-4", "AD-11", "STATE-1", "STATE-2", "AD-2"),
           "at lr = 0 the first step creates no state: a warm-up from 0 loses its first gradient and "
           "counts one step short",
           "SPEC GRP-4 rationale (linear warm-ups start at exactly lr = 0); no upstream report found",
           {**_w1([1.0], [1.0], steps=2, lr=0.0), "lr_at": [0.0, 0.1]}),
    # --- validation ------------------------------------------------------------------------------
    Mutant("no_validation", NoValidation, "adam", ("VAL-1", "VAL-3", "VAL-2", "VAL-4", "VAL-5"),
           "no hyperparameter validation (negative lr, β ≥ 1 accepted)",
           "pytorch/pytorch PR #5147 and PR #6000; ml-explore/mlx PR #4310; tinygrad/tinygrad PR #15576",
           {"construct": dict(lr=-1.0), "name": "lr", "value": -1.0}),
    Mutant("validation_lets_infinity_through", ValidationLetsInfinityThrough, "adamw",
           ("VAL-1", "VAL-2", "VAL-4"),
           "range checks written as 0 <= x: NaN rejected, +inf accepted",
           "SPEC VAL-1 rationale; ml-explore/mlx PR #508 review (lr check `0.0 <= learning_rate`)",
           {"construct": dict(lr=float("inf")), "name": "lr", "value": float("inf")}),
    Mutant("validation_message_unnamed", ValidationMessageUnnamed, "adam", ("VAL-5",),
           "invalid values rejected with a message that names neither the hyperparameter nor the value",
           "pytorch/pytorch PR #36161 (C++ Adam checks reported every bad value as 'learning rate')",
           {"construct": dict(betas=(0.9, 1.0)), "name": "beta", "value": 1.0}),
    # --- non-finite values, element coverage -----------------------------------------------------
    Mutant("nan_gradients_masked", NaNGradientsMasked, "adamw", ("NF-1",),
           "non-finite gradients replaced by zeros (nan_to_num)",
           "SlopDotCash/asi PR #71 review (NaN mapped to zero hides a diverged gradient); "
           "facebookresearch/mmf PR #1073",
           _w1([1.0], [float("nan")], lr=0.1)),
    Mutant("skips_odd_tail_element", SkipsOddTailElement, "adam", ("STATE-4", "AD-8", "AD-1"),
           "a pairwise kernel body without a scalar tail: the last element of an odd size is skipped",
           "bytedance/lightseq PR #98 (Adam bug when the parameter size is below the block size); "
           "pytorch/pytorch PR #100811 (tail tensor skipped by MultiTensorApply)",
           _w1([0.0, 0.0, 0.0], [1.0, 1.0, 1.0], lr=0.1)),
    Mutant("only_first_65536_elements", OnlyFirst65536Elements, "adam", ("STATE-4", "AD-1"),
           "only the first 65536 elements (one chunk) are updated",
           "NVIDIA/apex PR #1825 and deepspeedai/DeepSpeed PR #7639 (multi_tensor_apply size "
           "overflow: no parameter updates past a size)",
           _w1(np.zeros(65537).tolist(), np.ones(65537).tolist(), lr=0.1)),
]

CONTROLS: list[Mutant] = [
    Mutant("reference_adam", ReferenceAdam, "adam", (), "(correct)", "SPEC canonical step", _GENERIC),
    Mutant("reference_adam_l2", ReferenceAdam, "adam_l2", (), "(correct)", "SPEC canonical step",
           _GENERIC),
    Mutant("reference_adamw", ReferenceAdamW, "adamw", (), "(correct)", "SPEC canonical step",
           _GENERIC),
]




def adapter(m: Mutant) -> TorchClassAdapter:
    """The zoo member as an adamspec adapter (its class under its claimed mode)."""
    return TorchClassAdapter(m.cls, m.claim, name=f"zoo.{m.name}")
