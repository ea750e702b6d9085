"""nn: neural-network building blocks written as ordinary ``autograd_core`` expressions.

``Dense`` is ``x @ W.T + b`` and the costs are composed from the engine's primitives,
so their gradients come from the engine's general rules. ``fused=True`` on a layer or
a cost opts into one hand-differentiated node instead (``nn.fused``, nn's own table of
primitives, not the engine's), for speed.

``nn.reference`` is Nielsen's BP1–BP4 written by hand in numpy, an independent
second opinion; ``nn.reference.compare`` puts the two side by side.

A 1-D input or output is one example everywhere (layers, costs, ``compare``), exactly
as a batch of one row. ``nn.functional_call(model, params, x)`` runs a model with other
parameters, for the transforms of ``autograd_core`` (``grad``, ``per_example_grads``);
``nn.gradcheck(model, cost, x, y)`` checks a model's gradients with it.

For a course on Nielsen's chapter 3: ``Dropout``, ``Flatten``, the costs'
``reduction="mean" | "sum" | "none"``, ``CategoricalCrossEntropy`` after ``Softmax``,
parameter groups and ``state_dict()`` in the optimizers (saved with the model:
``model.save(path, optimizer=opt)``), and the schedules ``StepSchedule`` and
``PlateauSchedule`` (Nielsen's "halve η when the validation accuracy stalls").

Training on real data: ``nn.data`` (``load_mnist``, ``load_digits``, ``moons``, ``spirals``,
``minibatches``), ``nn.train.fit`` (a per-epoch history), and ``python -m nn train``.
"""

from . import data, reference, train
from .activations import Identity, ReLU, Sigmoid, Softmax, Tanh
from .batchnorm import BatchNorm
from .costs import CategoricalCrossEntropy, CrossEntropyCost, QuadraticCost, SoftmaxCrossEntropy
from .dropout import Dropout
from .gradcheck import gradcheck
from .layers import Dense, Flatten, Sequential
from .module import Module, Parameter, functional_call
from .optim import SGD, Adam, Optimizer
from .regularization import l2_penalty
from .schedules import PlateauSchedule, StepSchedule

__all__ = [
    "SGD", "Adam", "BatchNorm", "CategoricalCrossEntropy", "CrossEntropyCost", "Dense", "Dropout",
    "Flatten", "Identity", "Module", "Optimizer", "Parameter", "PlateauSchedule", "QuadraticCost", "ReLU",
    "Sequential", "Sigmoid", "Softmax", "SoftmaxCrossEntropy", "StepSchedule", "Tanh", "functional_call",
    "data", "gradcheck", "l2_penalty", "reference", "train",
]
