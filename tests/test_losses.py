"""Losses and pseudo labels (paper §3.3) on hand-built cases; expected values are computed
here from the formulas, not by the code under test."""
from __future__ import annotations

import math

import pytest
import torch

from weakhoi.losses import WeakHOICriterion, bag_logits, relatedness_targets
from weakhoi.model.config import LossConfig


def bce(logit: float, target: float) -> float:
    p = 1.0 / (1.0 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


# --------------------------------------------------------------------------- pseudo labels

S = torch.tensor([[0.1, 2.0, -1.0],     # pair 0, object 1
                  [0.5, 3.0, 0.0],      # pair 1, object 2 (not labelled: masked)
                  [0.2, 1.0, 0.7],      # pair 2, object 1
                  [0.9, -2.0, 0.7]])    # pair 3, object 3
PAIR_OBJECT = torch.tensor([1, 2, 1, 3])
OBJECTS = torch.tensor([0, 1, 0, 1.0])  # labelled objects 1 and 3


def test_mask_excludes_pairs_of_unlabelled_objects():
    verbs = torch.tensor([0, 1, 0.0])                  # only verb 1 labelled
    b = relatedness_targets(S, PAIR_OBJECT, OBJECTS, verbs, top_k=1)
    # verb 1: pair 1 has the highest score (3.0) but its object is not labelled -> pair 0 (2.0)
    assert b.tolist() == [1.0, 0.0, 0.0, 0.0]


def test_top1_per_labelled_verb_and_ties():
    verbs = torch.tensor([1, 1, 1.0])
    b = relatedness_targets(S, PAIR_OBJECT, OBJECTS, verbs, top_k=1)
    # verb 0 -> pair 3 (0.9); verb 1 -> pair 0 (2.0); verb 2 -> pairs 2 and 3 tie at 0.7: lower index 2
    assert b.tolist() == [1.0, 0.0, 1.0, 1.0]


def test_top_k_positives():
    verbs = torch.tensor([1, 0, 0.0])
    assert relatedness_targets(S, PAIR_OBJECT, OBJECTS, verbs, top_k=2).tolist() == [0.0, 0.0, 1.0, 1.0]
    # more positives asked than unmasked pairs: every unmasked pair
    assert relatedness_targets(S, PAIR_OBJECT, OBJECTS, verbs, top_k=5).tolist() == [1.0, 0.0, 1.0, 1.0]


def test_no_labelled_object_or_no_pairs_gives_no_positive():
    verbs = torch.tensor([1, 1, 1.0])
    assert relatedness_targets(S, PAIR_OBJECT, torch.zeros(4), verbs).sum() == 0
    assert relatedness_targets(S[:0], PAIR_OBJECT[:0], OBJECTS, verbs).shape == (0,)
    assert relatedness_targets(S, PAIR_OBJECT, OBJECTS, torch.zeros(3)).sum() == 0


def test_pseudo_labels_carry_no_gradient():
    s = S.clone().requires_grad_(True)
    b = relatedness_targets(s, PAIR_OBJECT, OBJECTS, torch.tensor([1, 1, 1.0]))
    assert not b.requires_grad


# --------------------------------------------------------------------------- bag and losses

def test_bag_is_max_over_each_images_pairs():
    s = torch.tensor([[1.0, -2.0], [3.0, -1.0], [0.5, 0.25]])
    bag, has = bag_logits(s, [2, 0, 1])
    assert bag.tolist() == [[3.0, -1.0], [0.0, 0.0], [0.5, 0.25]]
    assert has.tolist() == [True, False, True]


def outputs_and_targets():
    outputs = {"s_g": torch.tensor([[2.0, -1.0], [0.0, 1.0]]),            # B=2, N=2
               "s_p": torch.tensor([[1.0, -1.0], [-2.0, 0.5], [0.3, 0.2]]),  # P=3, A=2
               "s_b": torch.tensor([0.5, -0.5, 1.0]),
               "v_p": torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]]),
               "v_g": torch.tensor([[1.0, 1.0], [0.0, 2.0]]),
               "pair_counts": [2, 1]}
    targets = {"hoi": torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
               "verb": torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
               "object": torch.tensor([[0.0, 1.0], [1.0, 0.0]]),
               "pair_object": torch.tensor([1, 0, 0])}
    return outputs, targets


def test_loss_values_on_a_hand_computed_case():
    outputs, targets = outputs_and_targets()
    cfg = LossConfig(weight_g=1.0, weight_p=2.0, weight_b=0.5, weight_reg=3.0)
    losses = WeakHOICriterion(cfg)(outputs, targets, iteration=0)
    l_g = (bce(2.0, 1) + bce(-1.0, 0) + bce(0.0, 0) + bce(1.0, 1)) / 4
    # bags: image 0 max over pairs 0,1 = [1.0, 0.5]; image 1 = [0.3, 0.2]
    l_p = (bce(1.0, 1) + bce(0.5, 0) + bce(0.3, 0) + bce(0.2, 1)) / 4
    # pseudo labels: image 0 labels object 1, verb 0 -> only pair 0 unmasked -> b = [1, 0];
    # image 1 labels object 0, verb 1 -> pair 2 -> b = [1]
    l_b = ((bce(0.5, 1) + bce(-0.5, 0)) / 2 + bce(1.0, 1)) / 2
    # reg: image 0 mean v_p = (0.5, 0.5) -> normalised (1/√2, 1/√2) = v_g normalised -> 0;
    # image 1: v_p (0.6, 0.8) vs (0, 1): 0.36 + 0.04
    l_reg = (0.0 + 0.4) / 2
    assert losses["loss_g"].item() == pytest.approx(l_g, rel=1e-6)
    assert losses["loss_p"].item() == pytest.approx(l_p, rel=1e-6)
    assert losses["loss_b"].item() == pytest.approx(l_b, rel=1e-6)
    assert losses["loss_reg"].item() == pytest.approx(l_reg, rel=1e-5, abs=1e-7)
    assert losses["loss"].item() == pytest.approx(l_g + 2 * l_p + 0.5 * l_b + 3 * l_reg, rel=1e-6)


def test_src_warmup_and_switches():
    outputs, targets = outputs_and_targets()
    crit = WeakHOICriterion(LossConfig(src_warmup=5))
    early, late = crit(outputs, targets, 4), crit(outputs, targets, 5)
    assert early["loss"].item() == pytest.approx(early["loss_g"].item() + early["loss_p"].item())
    assert late["loss"].item() == pytest.approx(sum(late[k].item() for k in ("loss_g", "loss_p", "loss_b")))
    off = WeakHOICriterion(LossConfig(src=False))(outputs, targets, 10)
    assert "loss_b" not in off and "loss_reg" not in off
    no_global = dict(outputs, s_g=None)
    assert "loss_g" not in WeakHOICriterion(LossConfig())(no_global, targets, 0)


def test_images_without_pairs_contribute_the_global_loss_only():
    outputs, targets = outputs_and_targets()
    empty = dict(outputs, s_p=torch.zeros(0, 2, requires_grad=True), s_b=torch.zeros(0, requires_grad=True),
                 v_p=torch.zeros(0, 2), pair_counts=[0, 0])
    s_g = outputs["s_g"].clone().requires_grad_(True)
    empty["s_g"] = s_g
    losses = WeakHOICriterion(LossConfig(weight_reg=1.0))(empty, targets, 0)
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_p"].item() == 0 and losses["loss_b"].item() == 0 and losses["loss_reg"].item() == 0
    losses["loss"].backward()
    assert torch.isfinite(s_g.grad).all() and s_g.grad.abs().sum() > 0
    # one image with pairs, one without: L_p averages over the image with a bag only
    mixed = dict(outputs, s_p=outputs["s_p"][:2], s_b=outputs["s_b"][:2], v_p=outputs["v_p"][:2],
                 pair_counts=[2, 0])
    l_p = (bce(1.0, 1) + bce(0.5, 0)) / 2
    assert WeakHOICriterion(LossConfig())(mixed, targets, 0)["loss_p"].item() == pytest.approx(l_p, rel=1e-6)
