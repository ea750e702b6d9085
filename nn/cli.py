"""``python -m nn train`` and ``python -m nn evaluate``: train a network from the command line.

With no options, ``train`` fits a 64-30-10 sigmoid network to scikit-learn's embedded
8×8 digits (offline, a few seconds) and ends with a one-line summary. ``--dataset mnist``
reads MNIST from ``--data-dir`` (or downloads it with ``--download``). ``--save`` writes
a model file that ``evaluate`` needs alone: it records the architecture, activation,
cost and dataset. Errors are one short line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from autograd_core import draw

from . import data, train
from .activations import ReLU, Sigmoid, Tanh
from .costs import CrossEntropyCost, QuadraticCost, SoftmaxCrossEntropy
from .layers import Dense, Sequential
from .optim import SGD, Adam

DATASETS = ("digits", "mnist", "moons", "spirals")
ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU}
COSTS = ("quadratic", "cross-entropy", "softmax-cross-entropy")
# Nielsen's settings: chapter 1 (network.py) and chapter 3 (network2.py, L2-regularised).
PRESETS = {
    "nielsen-ch1": {"hidden": [30], "activation": "sigmoid", "cost": "quadratic", "eta": 3.0, "epochs": 30,
                    "batch_size": 10, "lmbda": 0.0, "optimizer": "sgd"},
    "nielsen-ch3": {"hidden": [30], "activation": "sigmoid", "cost": "cross-entropy", "eta": 0.5,
                    "epochs": 30, "batch_size": 10, "lmbda": 5.0, "optimizer": "sgd"},
}
DEFAULTS = PRESETS["nielsen-ch1"]


class UsageError(Exception):
    """A bad option or input: printed as one line, no traceback."""


def build_model(sizes: Sequence[int], activation: str, cost: str, seed: int = 0, fused: bool = True):
    """Dense layers of ``sizes`` with ``activation`` between them; a sigmoid output unless the cost
    takes logits (softmax-cross-entropy). Layer i is seeded ``seed + i + 1``."""
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b, seed=seed + i + 1, fused=fused))
        last = i == len(sizes) - 2
        if not last:
            layers.append(ACTIVATIONS[activation]())
        elif cost != "softmax-cross-entropy":
            layers.append(Sigmoid())
    return Sequential(*layers)


def build_cost(name: str, fused: bool = True):
    if name == "quadratic":
        return QuadraticCost(fused=fused)
    if name == "cross-entropy":
        return CrossEntropyCost()  # the probability form has no fused node
    return SoftmaxCrossEntropy(fused=fused)


def load_dataset(name: str, data_dir: str | None = None, download: bool = False,
                 seed: int = 0) -> data.Splits:
    if name == "digits":
        try:
            return data.load_digits()
        except ImportError as error:
            raise UsageError(f"{error}; or choose another --dataset ({', '.join(DATASETS)})") from None
    if name == "moons":
        return data.moons(seed=seed)
    if name == "spirals":
        return data.spirals(seed=seed)
    if name == "mnist":
        path = data_dir or (data.SHARED_MNIST if os.path.isdir(data.SHARED_MNIST) and not download else None)
        try:
            return data.load_mnist(path, download=download, cache_dir=data_dir if download else None)
        except data.DataError as error:
            raise UsageError(str(error)) from None
    raise UsageError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nn", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    t = commands.add_parser("train", help="train a network and print a per-epoch report",
                            description="Train a dense network with SGD (or Adam) on mini-batches. "
                                        "Installed also as the console script `nn-train`, which takes the "
                                        "same options.")
    t.add_argument("--dataset", default="digits", help=f"one of {', '.join(DATASETS)} (default: digits)")
    t.add_argument("--data-dir", help="the MNIST folder (IDX files or mnist.pkl.gz); with --download, "
                                      "where to put them (default ~/.cache/nn/mnist)")
    t.add_argument("--download", action="store_true", help="fetch MNIST and check its published checksums")
    t.add_argument("--preset", choices=sorted(PRESETS),
                   help="Nielsen's settings; other options override them")
    t.add_argument("--sizes", help="layer sizes, e.g. 784,30,10 (default: inputs,30,classes)")
    t.add_argument("--activation", choices=sorted(ACTIVATIONS), help="hidden activation (default sigmoid)")
    t.add_argument("--cost", choices=COSTS, help="default quadratic")
    t.add_argument("--eta", type=float, help="learning rate (default 3.0)")
    t.add_argument("--epochs", type=int, help="default 30")
    t.add_argument("--batch-size", type=int, help="default 10")
    t.add_argument("--lmbda", type=float, help="L2 regularisation, Nielsen's lambda (default 0)")
    t.add_argument("--optimizer", choices=("sgd", "adam"), help="default sgd")
    t.add_argument("--seed", type=int, default=0, help="for the weights and the shuffling (default 0)")
    t.add_argument("--save", help="write the trained model (.npz) for `evaluate`")
    t.add_argument("--plot", help="write cost and accuracy curves (PNG; needs matplotlib)")
    t.add_argument("--speed", help="write the learning speed of each layer, mean |delta| per epoch "
                                   "(PNG; needs matplotlib)")
    t.add_argument("--boundary", help="2-D datasets: write the decision boundary (PNG; needs matplotlib)")
    t.add_argument("--graph",
                   help="write the diagram of one mini-batch's graph (.svg/.png/.dot; needs graphviz)")
    t.add_argument("--check-bp", action="store_true",
                   help="compare one mini-batch with nn.reference (BP1-BP4)")
    t.add_argument("--against-reference", action="store_true",
                   help="train nn.reference beside the engine and print the largest weight difference "
                        "after each epoch (sigmoid layers, sgd, quadratic or cross-entropy)")
    t.add_argument("--blas-threads", type=int, default=1,
                   help="threads numpy's BLAS may use while training (default 1: on mini-batches this small "
                        "more threads only contend, several times slower on a busy machine); needs "
                        "threadpoolctl, which scikit-learn brings, else set OPENBLAS_NUM_THREADS")
    t.add_argument("--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    t.add_argument("--no-jit", action="store_true",
                   help="run every mini-batch step eagerly; by default each step is replayed as a "
                        "program traced once (autograd_core.jit) when the model allows: the same "
                        "numbers, faster")
    e = commands.add_parser("evaluate", help="accuracy of a saved model on its dataset's test data",
                            description="Evaluate a model written by `train --save`.")
    e.add_argument("--model", required=True, help="the .npz written by `train --save`")
    e.add_argument("--data-dir", help="the MNIST folder, for a model trained on MNIST")
    return parser


def _options(args: argparse.Namespace) -> dict[str, Any]:
    chosen = dict(PRESETS[args.preset] if args.preset else DEFAULTS)
    for key in ("activation", "cost", "eta", "epochs", "batch_size", "lmbda", "optimizer"):
        if getattr(args, key) is not None:
            chosen[key] = getattr(args, key)
    for key in ("eta", "epochs", "batch_size"):
        if not (chosen[key] > 0 and np.isfinite(chosen[key])):     # NaN fails the comparison
            raise UsageError(f"--{key.replace('_', '-')} must be positive and finite, got {chosen[key]}")
    if not (chosen["lmbda"] >= 0 and np.isfinite(chosen["lmbda"])):
        raise UsageError(f"--lmbda must be >= 0 and finite, got {chosen['lmbda']}")
    return chosen


def _sizes(text: str | None, hidden: list[int], features: int, classes: int, dataset: str) -> list[int]:
    if text is None:
        return [features, *hidden, classes]
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise UsageError(f"--sizes {text!r}: give integers separated by commas, "
                         f"e.g. {features},30,{classes}") from None
    if len(sizes) < 2 or min(sizes) <= 0:
        raise UsageError(f"--sizes {text!r}: at least two positive sizes, e.g. {features},30,{classes}")
    if sizes[0] != features or sizes[-1] != classes:
        raise UsageError(f"--sizes {text!r}: {dataset} has {features} inputs and {classes} classes, so the "
                         f"sizes must start with {features} and end with {classes}")
    return sizes


def save_model(path: str, model: Any, meta: dict[str, Any]) -> None:
    """The model's arrays and ``meta`` (as JSON text under ``meta``), atomically; read without pickle."""
    arrays = {**model.state_dict(), "meta": np.array(json.dumps(meta))}
    handle, temp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise


def load_model(path: str) -> tuple[Any, dict[str, Any]]:
    """(model, meta) from a file written by ``save_model``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as error:
        raise UsageError(f"{path}: not a model file written by `train --save` ({error})") from None
    if "meta" not in arrays:
        raise UsageError(f"{path}: no `meta` entry: not a model file written by `python -m nn train --save`")
    try:
        meta = json.loads(str(arrays.pop("meta")))
        model = build_model(meta["sizes"], meta["activation"], meta["cost"])
    except (ValueError, KeyError, TypeError) as error:     # bad JSON, or a field missing or unknown
        raise UsageError(f"{path}: its `meta` entry does not describe a model ({type(error).__name__}: "
                         f"{error}); save it again with `python -m nn train --save`") from None
    try:
        model.load_state_dict(arrays)
    except (ValueError, KeyError) as error:
        raise UsageError(f"{path}: its arrays do not fit the architecture it records: {error}") from None
    return model, meta


def _train(args: argparse.Namespace) -> dict[str, Any]:
    opts = _options(args)
    splits = load_dataset(args.dataset, args.data_dir, args.download, args.seed)
    (x, y), validation, test = splits
    if args.boundary and x.shape[1] != 2:           # checked before training, not after it
        raise UsageError(f"--boundary needs a 2-D dataset (moons, spirals); {args.dataset} has "
                         f"{x.shape[1]} inputs")
    classes = int(max(y.max(), test[1].max() if len(test[1]) else 0)) + 1
    sizes = _sizes(args.sizes, opts["hidden"], x.shape[1], classes, args.dataset)
    model = build_model(sizes, opts["activation"], opts["cost"], seed=args.seed)
    cost = build_cost(opts["cost"])
    make = SGD if opts["optimizer"] == "sgd" else Adam
    optimizer = make(model.parameters(), lr=opts["eta"])
    held_out = test if len(test[0]) else validation
    tested_on = data.describe_test_split(args.dataset, splits)
    say = (lambda *a: None) if args.quiet else print
    say(f"{args.dataset}: {len(x)} training, {len(validation[0])} validation, {len(test[0])} test examples; "
        f"{'-'.join(map(str, sizes))} {opts['activation']}, {opts['cost']} cost, {opts['optimizer']} "
        f"eta={opts['eta']}, batch {opts['batch_size']}, lambda={opts['lmbda']}, seed {args.seed}; "
        f"tested on {tested_on}")

    callbacks = [train.learning_speed(cost, (x, y))] if args.speed else []
    if args.against_reference:
        if opts["activation"] != "sigmoid" or opts["optimizer"] != "sgd":
            raise UsageError("--against-reference needs sigmoid layers and --optimizer sgd (nn.reference's "
                             "network2.py)")
        try:
            callbacks.append(train.against_reference(model, cost, (x, y), opts["batch_size"], opts["eta"],
                                                     opts["lmbda"], args.seed))
        except ValueError as error:
            raise UsageError(str(error)) from None

    def report(row, model):
        twin = row.get("reference_difference")
        say(f"epoch {row['epoch']}: training cost {row['training_cost']:.4f}, accuracy "
            f"{row['training_accuracy']:.2%}; test accuracy {row['eval_accuracy']:.2%} "
            f"({row['seconds']:.2f} s)" + ("" if twin is None else f"; largest difference from "
                                           f"nn.reference {twin:.1e}"))

    # Silenced: fit's warning on a NaN/inf cost and numpy's overflow warnings that lead to it;
    # history.stopped says it in one line below.
    with _blas_threads(args.blas_threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        history = train.fit(model, cost, optimizer, (x, y), opts["epochs"], opts["batch_size"],
                            eval=held_out, seed=args.seed, callbacks=[*callbacks, report],
                            lmbda=opts["lmbda"], progress=False if args.quiet else None,
                            jit=False if args.no_jit else None)
    if history.stopped:
        print(history.stopped, file=sys.stderr)
    meta = {"sizes": sizes, "activation": opts["activation"], "cost": opts["cost"], "dataset": args.dataset,
            "epochs": len(history), "seed": args.seed, "test_split": tested_on}
    if args.save and len(history):
        save_model(args.save, model, meta)
    # Titles of the pictures: the network, then how it was trained.
    network = f"{args.dataset}, {'-'.join(map(str, sizes))} {opts['activation']}, {opts['cost']} cost"
    how = (f"{opts['optimizer']} η = {opts['eta']:g}, batch {opts['batch_size']}, {len(history)} epochs"
           + (f", λ = {opts['lmbda']:g}" if opts["lmbda"] else ""))
    if args.plot and len(history):
        from . import plots
        plots.curves(history, args.plot, title=f"{network}; {how}",
                     eval_label="test data" if held_out is test else "validation data")
    if args.speed and len(history):
        from . import plots
        plots.learning_speed(history, args.speed, title=f"learning speed of each layer\n{network}\n{how}")
    if args.boundary:
        from . import plots
        plots.decision_boundary(model, *test, args.boundary,
                                title=f"{network}\n{how}\nthe test points on the predicted classes")
    if args.graph:
        _graph(model, cost, x[:opts["batch_size"]], y[:opts["batch_size"]], args.graph)
    if args.check_bp:
        _check_bp(model, cost, x[:opts["batch_size"]], y[:opts["batch_size"]], opts, len(x), classes)
    if not len(history):
        print(f"{args.dataset}: no epoch completed")
        return {"history": history, "model": model}
    accuracy = max(history["eval_accuracy"])
    print(f"{args.dataset}: test accuracy {history[-1]['eval_accuracy']:.2%} after {len(history)} "
          f"epoch{'' if len(history) == 1 else 's'} "
          f"(best {accuracy:.2%}), {sum(history['seconds']):.1f} s, {history.form} form, "
          + ("steps replayed by jit" if history.jit else "eager steps"))
    if not history.jit and not args.no_jit:
        # The reason's first sentence: what jit could not trace (the rest is advice for code).
        print(f"(steps ran eagerly: {history.jit_reason.split('. ')[0].removeprefix('jit: ')}.)")
    return {"history": history, "model": model}


def _blas_threads(threads: int):
    """A context that limits numpy's BLAS to ``threads`` (threadpoolctl), or changes nothing without it."""
    if threads <= 0:
        raise UsageError(f"--blas-threads must be positive, got {threads}")
    try:
        from threadpoolctl import threadpool_limits  # optional: installed with scikit-learn
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def _graph(model: Any, cost: Any, x: np.ndarray, labels: np.ndarray, path: str) -> None:
    try:
        for layer in model:
            if hasattr(layer, "fused"):
                layer.fused = False  # draw the general rules, not the fused nodes
        out = model(x)
        loss = build_cost(_cost_name(cost), fused=False)(out, train.targets_for(cost, labels, out.shape[-1]))
        diagram = draw(loss, bp=True, collapse=())
        fmt = os.path.splitext(path)[1].lstrip(".") or "svg"
        if fmt == "dot":
            diagram.save(path)
        else:
            try:
                data = diagram.pipe(format=fmt)
            except RuntimeError as error:       # Graphviz's dot program is not installed
                # The training still happened: keep the graph as DOT source, say how to render.
                source = os.path.splitext(path)[0] + ".dot"
                diagram.save(source)
                print(f"--graph: wrote {source} instead of {path}: {error}", file=sys.stderr)
                return
            with open(path, "wb") as file:
                file.write(data)
    except ImportError as error:                # the graphviz package is not installed
        raise UsageError(f"--graph is unavailable: {error}") from None
    finally:
        for layer in model:
            if hasattr(layer, "fused"):
                layer.fused = True


def _cost_name(cost: Any) -> str:
    names = {QuadraticCost: "quadratic", CrossEntropyCost: "cross-entropy"}
    return names.get(type(cost), "softmax-cross-entropy")


def _check_bp(model, cost, x, labels, opts, n, classes) -> None:
    from . import reference
    if opts["activation"] != "sigmoid" or opts["cost"] == "softmax-cross-entropy":
        print("--check-bp: nn.reference covers sigmoid layers with the quadratic or cross-entropy cost only")
        return
    y = np.eye(classes)[labels]
    print(reference.compare(model, x, y, build_cost(opts["cost"]), lmbda=opts["lmbda"], n=n,
                            forms=("composed", "fused")))


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    model, meta = load_model(args.model)
    splits = load_dataset(meta["dataset"], args.data_dir, False, meta.get("seed", 0))
    (_, _), validation, test = splits
    held_out = test if len(test[0]) else validation
    tested_on = data.describe_test_split(meta["dataset"], splits)
    if held_out[0].shape[1] != meta["sizes"][0]:
        raise UsageError(f"{args.model}: the model takes {meta['sizes'][0]} inputs, {meta['dataset']} has "
                         f"{held_out[0].shape[1]}")
    # Another split (MNIST with and without its training files) may hold the model's training data.
    if meta.get("test_split", tested_on) != tested_on:
        raise UsageError(f"{args.model} was tested on {meta['test_split']}, but this data's test split is "
                         f"{tested_on}; pass --data-dir with the folder it was trained on")
    cost, accuracy = train.evaluate(model, build_cost(meta["cost"]), *held_out)
    print(f"{meta['dataset']}: test accuracy {accuracy:.2%}, cost {cost:.4f} on {tested_on} "
          f"({'-'.join(map(str, meta['sizes']))} {meta['activation']}, {meta['cost']})")
    return {"accuracy": accuracy, "cost": cost}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result = _train(args) if args.command == "train" else _evaluate(args)
    except (UsageError, ImportError) as error:  # ImportError: an optional extra that is not installed
        print(f"python -m nn {args.command}: {error}", file=sys.stderr)
        return 2
    main.result = result  # for tests: what the last call produced
    stopped = result["history"].stopped if "history" in result else None
    if stopped and stopped.startswith("interrupted"):
        return 130                              # the shell's code for Ctrl-C
    return 1 if stopped and "cost became" in stopped else 0


def train_main(argv: Sequence[str] | None = None) -> int:
    """``nn-train ...``, the console script: ``python -m nn train ...``."""
    return main(["train", *(sys.argv[1:] if argv is None else argv)])
