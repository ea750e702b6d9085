"""animate_backward: one self-contained page whose steps are the engine's own backward pass.

The page's order is compared with a separate ``trace_backward()`` of a real
``loss.backward()``; the browser test opens it in headless Chromium (Debian's, driven by
Playwright) and checks what a learner sees after "next" and the right arrow key.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import require

import nn
from autograd_core import BackwardError, Tensor, animate_backward, trace_backward
from autograd_core.animate import element_id

BROWSER_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def nielsen(batch: int = 10):
    """Nielsen's 784-30-10 sigmoid network, its quadratic cost on one mini-batch, and the model."""
    model = nn.Sequential(nn.Dense(784, 30, seed=0), nn.Sigmoid(), nn.Dense(30, 10, seed=1), nn.Sigmoid())
    rng = np.random.default_rng(0)
    x = rng.random((batch, 784))
    y = np.eye(10)[rng.integers(0, 10, batch)]
    return nn.QuadraticCost()(model(x), y), model


def diamond():
    """A value used twice (b feeds c twice), a constant input, and a named leaf."""
    a = Tensor([1.5, -0.5], requires_grad=True, name="a")
    b = a * 2.0
    c = (b * b + b).sum()
    return c, a


def engine_order(loss) -> list[str]:
    """The SVG ids of the nodes a real ``loss.backward()`` processes, in its order."""
    with trace_backward() as trace:
        loss.backward(retain_graph=True)
    return [element_id(step.node) for step in trace]


def page_order(page: str) -> list[str]:
    return re.findall(r"<section data-node='((?:op|t)\d+)'", page)


def render(loss, tmp_path, name: str = "backward.html") -> str:
    require("graphviz", "animate_backward lays the graph out with the graphviz package")
    require("dot", "animate_backward renders the graph with Graphviz's dot program")
    path = animate_backward(loss, tmp_path / name)
    return path.read_text(encoding="utf-8")


# ------------------------------------------------------------------------ the page
@pytest.mark.parametrize("build", [diamond, nielsen], ids=["diamond", "nielsen"])
def test_one_step_per_traced_node_in_the_engines_order(build, tmp_path):
    loss, _ = build()
    page = render(loss, tmp_path)
    order = engine_order(loss)            # after the page: the graph was retained
    assert page_order(page) == order
    assert len(set(order)) == len(order)
    for ident in order:                    # every step's node is one SVG element with that id
        assert len(re.findall(rf'<g id="{ident}" class="node"', page)) == 1, ident
    assert f'max="{len(order)}"' in page


def test_the_ids_are_those_draw_gives_the_same_nodes():
    require("graphviz", "draw() builds a graphviz.Digraph")
    from autograd_core.draw import draw

    loss, _ = nielsen()
    elements = draw(loss, bp=True).elements         # Node -> its element id in draw's SVG
    with trace_backward() as trace:
        loss.backward(retain_graph=True)
    assert [element_id(node) for node in trace.order] == [elements[node] for node in trace.order]


def test_the_page_is_self_contained(tmp_path):
    loss, _ = nielsen()
    page = render(loss, tmp_path)
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page and "<script>" in page and "<style>" in page
    assert re.search(r"https?:|//[a-z]", page, re.IGNORECASE) is None, "a URL in the page"
    assert re.search(r"\b(src|href)\s*=", page, re.IGNORECASE) is None, "an external resource"
    assert re.search(r"<link\b|@import|url\(", page, re.IGNORECASE) is None
    assert len(page) < 200_000, "values must be summarised, not dumped"


def test_no_grad_changes_and_the_graph_survives(tmp_path):
    loss, model = nielsen()
    W0, b2 = model.layers[0].W, model.layers[2].b
    W0.grad = np.full(W0.shape, 7.0)
    before = W0.grad
    hidden_loss, a = diamond()
    render(loss, tmp_path)
    render(hidden_loss, tmp_path, "diamond.html")
    assert W0.grad is before and np.all(W0.grad == 7.0)
    assert b2.grad is None and a.grad is None
    loss.backward()                       # the page kept the graph: backward still works
    hidden_loss.backward()
    assert b2.grad is not None and np.allclose(a.grad, 8 * a.data + 2)


def test_the_page_runs_no_user_hook(tmp_path):
    loss, a = diamond()
    calls = []
    a.register_hook(lambda g: calls.append(g))
    page = render(loss, tmp_path)
    assert calls == [] and a.grad is None
    assert "did not run" in page
    loss.backward()
    assert len(calls) == 1


def test_each_step_shows_the_rule_and_the_gradients(tmp_path):
    loss, _ = diamond()
    page = render(loss, tmp_path)
    steps = re.findall(r"<section .*?</section>", page, re.DOTALL)
    first, mul = steps[0], steps[2]       # sum, then add (b*b + b), then mul (b*b)
    assert "Step 1 of" in first and "the seed" in first and "Σ" in first
    assert "x̄ = g ⊙ y,  ȳ = g ⊙ x" in mul
    b_step = next(s for s in steps if "the sum of" in s)       # b: used three times
    assert b_step.count(" from ") == 3
    assert "a.grad" in steps[-1] and "was left as it was" in steps[-1]


def test_nielsens_layers_show_delta_and_bp1_to_bp4(tmp_path):
    loss, _ = nielsen()
    page = render(loss, tmp_path)
    steps = dict(zip(page_order(page), re.findall(r"<section .*?</section>", page, re.DOTALL)))
    output_sigmoid = next(s for s in steps.values() if "sigmoid → a³" in s.split("</h2>")[0])
    assert "<b>BP1</b> δ³ = ∇ₐC ⊙ σ′(z³)" in output_sigmoid
    z3 = next(s for s in steps.values() if "add → z³" in s.split("</h2>")[0])
    assert "g is <b>δ³</b>" in z3 and "<b>BP3</b>" in z3
    assert all(f"<b>BP{k}</b>" in page for k in (1, 2, 3, 4))
    assert "δ² 10×30" in page and "δ³ 10×10" in page              # on the edges out of z², z³
    assert "layers.0: layer l = 2" in page and "layers.2: layer l = 3" in page
    assert "result of <b>BP4</b>" in steps[page_order(page)[-1]]   # the last leaf: W²
    plain = animate_backward(loss, tmp_path / "plain.html", bp=False).read_text(encoding="utf-8")
    assert "δ" not in plain and "BP1" not in plain
    assert page_order(plain) == page_order(page)


def test_refuses_what_it_cannot_replay(tmp_path):
    loss, _ = diamond()
    loss.backward()                       # frees the saved values
    with pytest.raises(BackwardError, match="retain_graph=True"):
        animate_backward(loss, tmp_path / "x.html")
    with pytest.raises(BackwardError, match="does not require grad"):
        animate_backward(Tensor(1.0) * 2.0, tmp_path / "x.html")
    chain = Tensor(1.0, requires_grad=True)
    for _ in range(30):
        chain = chain * 1.01
    with pytest.raises(ValueError, match="max_nodes=10"):
        animate_backward(chain, tmp_path / "x.html", max_nodes=10)
    assert not (tmp_path / "x.html").exists()


def test_a_loss_of_several_elements_is_seeded_with_ones(tmp_path):
    vector = Tensor([1.0, 2.0], requires_grad=True, name="v") * 3.0
    first = re.search(r"<section .*?</section>", render(vector, tmp_path), re.DOTALL).group()
    assert "the seed" in first and "[1, 1]" in first


# --------------------------------------------------------------------- in a browser
def test_the_page_in_headless_chromium(tmp_path):
    """Loads offline without errors, shows step 1; "next" and → highlight the engine's 2nd and 3rd."""
    chromium = require("chromium", "the step-through page is checked in Debian's headless Chromium")
    sync_api = require("playwright.sync_api", "Playwright drives the headless Chromium")
    loss, _ = nielsen()
    path = animate_backward(loss, tmp_path / "nielsen.html")
    order = engine_order(loss)
    errors, requests = [], []
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium, headless=True, args=BROWSER_FLAGS,
            viewport={"width": 1400, "height": 850})
        try:
            page = context.new_page()
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(path.as_uri())

            def highlighted() -> list[str]:
                return page.eval_on_selector_all(".node.current", "nodes => nodes.map(n => n.id)")

            def shown() -> str:
                return page.eval_on_selector("#steps > section:not([hidden])", "s => s.dataset.node")

            assert highlighted() == [order[0]] and shown() == order[0]
            assert page.inner_text("#counter") == f"step 1 of {len(order)}"
            assert page.is_disabled("#prev")
            page.click("#next")
            assert highlighted() == [order[1]] and shown() == order[1]
            page.keyboard.press("ArrowRight")
            assert highlighted() == [order[2]] and shown() == order[2]
            done = page.eval_on_selector_all(".node.done", "nodes => nodes.map(n => n.id)")
            assert sorted(done) == sorted(order[:2])
            assert page.eval_on_selector_all(".edge.sending", "edges => edges.length") >= 1
            page.keyboard.press("ArrowLeft")
            assert highlighted() == [order[1]]
            page.locator("#slider").fill(str(len(order)))
            assert highlighted() == [order[-1]] and page.is_disabled("#next")
            page.keyboard.press("Home")
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            assert highlighted() == [order[2]]
            page.screenshot(path=str(tmp_path / "step3.png"))
        finally:
            context.close()
    assert errors == []
    assert requests == [path.as_uri()], "the page requested something besides itself"
    assert (tmp_path / "step3.png").stat().st_size > 10_000


def test_the_command_line_writes_the_step_through_page(tmp_path, capsys):
    from autograd_core.__main__ import main

    page = tmp_path / "neuron.html"
    assert main(["draw", "neuron", "-o", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "http" not in html
    assert "step through the backward pass" in capsys.readouterr().out
