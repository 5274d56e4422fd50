"""What scikit-learn imports but serving never uses loads on first use, and changes nothing.

Each check runs in a fresh interpreter: this process imported scikit-learn long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression, QuantileRegressor, Ridge
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    OneHotEncoder,
    PowerTransformer,
    QuantileTransformer,
    SplineTransformer,
    StandardScaler,
)
from support.paths import ROOT
from test_typed_models import CHURN, frame, saved

from app.aws.lazy_imports import DEFERRED, enabled


def run(script: str, lazy: bool = True) -> Any:
    """The JSON a fresh interpreter prints after running `script` in the repository."""
    env = {**os.environ, "LAZY_IMPORTS": "1" if lazy else "0", "LOG_LEVEL": "WARNING"}
    prelude = textwrap.dedent(
        """
        import json, sys
        from app.aws.lazy_imports import is_deferred, install, DEFERRED
        install()  # as the entry points do; LAZY_IMPORTS=0 leaves it off
        def deferred():
            loaded = [sys.modules[name] for name in DEFERRED if name in sys.modules]
            return sorted(module.__name__ for module in loaded if is_deferred(module))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


SERVE = """
    from app.factory import create_app
    from app.http.components import part_of
    from app.service.model_slot import ModelSlot
    answers = []
    for uri in json.loads({uris!r}):
        app = create_app({{"MODEL_URI": uri}})
        predictor = part_of(ModelSlot, app).predictor
        body = {{"instances": list(predictor.metadata.example)}}
        if predictor.supports_probabilities:
            body["return_probabilities"] = True
        response = app.test_client().post("/predict", json=body)
        answers.append([uri, response.status_code, response.get_data(as_text=True)])
    print(json.dumps({{"answers": answers, "deferred": deferred()}}))
"""


@pytest.fixture(scope="module")
def model_kinds(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """One artifact per kind of pipeline, each touching a different part of SciPy."""
    folder = tmp_path_factory.mktemp("kinds")
    data, target = frame()
    numeric = data[["age", "income"]]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    labels = np.where(X[:, 0] + X[:, 1] > 0, "up", "down")
    kinds = {
        "mixed": make_pipeline(
            ColumnTransformer(
                [
                    ("categories", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
                    ("numbers", StandardScaler(), ["age", "income"]),
                ]
            ),
            HistGradientBoostingClassifier(max_iter=20, random_state=0),
        ).fit(data, target),
        "splines": make_pipeline(SplineTransformer(), LogisticRegression()).fit(numeric, target),
        "power": make_pipeline(PowerTransformer(), Ridge()).fit(numeric, data["income"]),
        "quantiles": make_pipeline(
            QuantileTransformer(n_quantiles=50, output_distribution="normal"), Ridge()
        ).fit(numeric, data["income"]),
        "quantile-regressor": QuantileRegressor(alpha=0.0).fit(numeric, data["income"]),
        "isotonic": IsotonicRegression().fit(data["age"].to_numpy(float), data["income"]),
        "neighbours": KNeighborsClassifier().fit(X, labels),
        "kmeans": KMeans(n_clusters=2, n_init=3, random_state=0).fit(X),
        "isolation": IsolationForest(random_state=0).fit(X),
        "multi-output": MultiOutputClassifier(LogisticRegression()).fit(
            X, np.column_stack([labels, labels[::-1]])
        ),
    }
    examples: dict[str, tuple[Any, dict[str, Any]]] = {
        "mixed": (data.head(6), {}),
        "splines": (numeric.head(6), {}),
        "power": (numeric.head(6), {}),
        "quantiles": (numeric.head(6), {}),
        "quantile-regressor": (numeric.head(6), {}),
        "isotonic": (data["age"].to_numpy(float)[:6, None], {"features": ["age"]}),
        "neighbours": (X[:6], {"features": ["x", "y"]}),
        "kmeans": (X[:6], {"features": ["x", "y"]}),
        "isolation": (X[:6], {"features": ["x", "y"]}),
        "multi-output": (X[:6], {"features": ["x", "y"], "outputs": ["first", "second"]}),
    }
    uris = [
        str(saved(folder / name, kinds[name], example, **description))
        for name, (example, description) in examples.items()
    ]
    texts = ["great value", "awful support", "great support", "awful value"] * 10
    text_model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        texts, ["good", "bad", "good", "bad"] * 10
    )
    uris.append(str(saved(folder / "text", text_model, texts[:4], features=["review"])))
    return ["", str(CHURN), *uris]


def test_every_model_kind_answers_exactly_the_same_with_and_without(
    model_kinds: list[str],
) -> None:
    script = SERVE.format(uris=json.dumps(model_kinds))
    lazy, eager = run(script, lazy=True), run(script, lazy=False)
    assert [status for _, status, _ in lazy["answers"]] == [200] * len(model_kinds)
    assert lazy["answers"] == eager["answers"]
    assert eager["deferred"] == []


@pytest.mark.parametrize("model_uri", ["", str(CHURN)])
def test_serving_one_model_leaves_every_deferred_module_unrun(model_uri: str) -> None:
    served = run(SERVE.format(uris=json.dumps([model_uri])))
    assert served["answers"][0][1] == 200
    loaded = {name for name in DEFERRED if name not in served["deferred"]}
    # scipy.ndimage is not even imported by these; the others are imported and deferred.
    assert loaded <= {"scipy.ndimage"}, loaded


def test_fitting_computes_exactly_the_same_with_and_without() -> None:
    script = """
        import hashlib
        import numpy as np
        from app.aws import lazy_imports
        from sklearn.linear_model import LogisticRegression, QuantileRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import PowerTransformer, SplineTransformer
        rng = np.random.default_rng(1)
        X = rng.normal(size=(120, 3))
        y = (X[:, 0] - X[:, 2] > 0).astype(int)
        models = [
            make_pipeline(SplineTransformer(), LogisticRegression()).fit(X, y),
            make_pipeline(PowerTransformer(), LogisticRegression(solver="newton-cg")).fit(X, y),
            QuantileRegressor(alpha=0.01).fit(X, X[:, 1]),
        ]
        digest = hashlib.sha256()
        for model in models:
            digest.update(np.ascontiguousarray(model.predict(X)).tobytes())
            final = model[-1] if hasattr(model, "steps") else model
            digest.update(np.ascontiguousarray(final.coef_).tobytes())
        print(json.dumps(digest.hexdigest()))
    """
    assert run(script, lazy=True) == run(script, lazy=False)


def test_each_deferred_name_is_what_scikit_learn_imports() -> None:
    # Read with the feature off: the real modules, as scikit-learn would bind them.
    kinds = run(
        """
        import importlib, inspect
        kinds = {}
        for module, names in DEFERRED.items():
            real = importlib.import_module(module)
            for name in names:
                value = getattr(real, name)
                kinds[f"{module}.{name}"] = (
                    "function" if inspect.isfunction(value)
                    else "class" if inspect.isclass(value)
                    else "module" if inspect.ismodule(value)
                    else type(value).__name__
                )
        print(json.dumps(kinds))
        """,
        lazy=False,
    )
    assert kinds == {
        "scipy.stats.chi2": "chi2_gen",
        "scipy.stats.gmean": "function",
        "scipy.stats.rankdata": "function",
        "scipy.stats.spearmanr": "function",
        "scipy.optimize.linear_sum_assignment": "builtin_function_or_method",
        "scipy.optimize.linprog": "function",
        "scipy.optimize.minimize": "function",
        "scipy.optimize.minimize_scalar": "function",
        "scipy.interpolate.BSpline": "class",
        "scipy.integrate.trapezoid": "function",
        "scipy.spatial.distance": "module",
        "sklearn.utils.optimize._check_optimize_result": "function",
        "sklearn.utils.optimize._newton_cg": "function",
    }


def test_once_loaded_every_scikit_learn_module_holds_the_real_objects() -> None:
    script = """
        import importlib, pkgutil
        import sklearn
        def stand_ins():
            return sorted(
                f"{name}.{key}"
                for name, module in list(sys.modules.items())
                if name.startswith("sklearn.") and not is_deferred(module)
                for key, value in vars(module).items()
                if type(value).__name__ == "_StandIn"
            )
        for name in ["sklearn.linear_model", "sklearn.preprocessing", "sklearn.metrics",
                     "sklearn.model_selection", "sklearn.covariance", "sklearn.isotonic",
                     "sklearn.calibration", "sklearn.neighbors", "sklearn.ensemble"]:
            importlib.import_module(name)
        bound, before = stand_ins(), deferred()
        for info in pkgutil.walk_packages(sklearn.__path__, "sklearn."):
            if "tests" in info.name or "_plot" in info.name or "conftest" in info.name:
                continue
            try:
                importlib.import_module(info.name)
            except ImportError:
                pass  # optional dependencies (matplotlib, pytest) are not installed
        for name in deferred():
            vars(sys.modules[name])  # any use runs the module's code
        print(json.dumps({"bound": bound, "before": before, "left": stand_ins(),
                          "after": deferred()}))
    """
    outcome = run(script)
    # Importing the estimators binds stand-ins and leaves their modules deferred; once
    # every module has run, each of those bindings holds the real object.
    assert set(outcome["before"]) == set(DEFERRED) - {"scipy.ndimage"}
    assert {"sklearn._loss.link.gmean", "sklearn.preprocessing._polynomial.BSpline"} <= set(
        outcome["bound"]
    )
    assert outcome["left"] == []
    assert outcome["after"] == []


def test_a_stand_in_acts_as_the_real_function_and_class() -> None:
    outcome = run(
        """
        from sklearn._loss import link
        from sklearn.preprocessing import _polynomial
        gmean, spline = link.gmean, _polynomial.BSpline
        kinds = [type(gmean).__name__, type(spline).__name__]
        value = float(gmean([1.0, 4.0]))
        import scipy.stats, scipy.interpolate
        rebound = link.gmean is scipy.stats.gmean
        class Sub(spline):
            pass
        instance = scipy.interpolate.BSpline([0.0, 1.0, 2.0, 3.0], [1.0, 2.0], 1)
        print(json.dumps({
            "kinds": kinds, "value": value, "rebound": rebound,
            "base_is_real": Sub.__bases__ == (scipy.interpolate.BSpline,),
            "isinstance": isinstance(instance, spline),
            "issubclass": issubclass(Sub, spline),
            "attribute": spline.construct_fast == scipy.interpolate.BSpline.construct_fast,
            "polynomial_rebound": _polynomial.BSpline is scipy.interpolate.BSpline,
        }))
        """
    )
    assert outcome == {
        "kinds": ["_StandIn", "_StandIn"],
        "value": 2.0,
        "rebound": True,
        "base_is_real": True,
        "isinstance": True,
        "issubclass": True,
        "attribute": True,
        "polynomial_rebound": True,
    }


def test_anything_but_scikit_learn_binding_at_import_gets_the_real_object() -> None:
    outcome = run(
        """
        import pickle
        import sklearn.metrics  # defers scipy.stats, scikit-learn binding stand-ins
        was_deferred = "scipy.stats" in deferred()
        # A pickle naming scipy.stats.gmean, as a model holding that function would.
        restored = pickle.loads(b"cscipy.stats\\ngmean\\n.")
        from scipy.stats import norm  # not a binding by scikit-learn
        import scipy.stats
        print(json.dumps({
            "was_deferred": was_deferred,
            "restored_is_real": restored is scipy.stats.gmean,
            "restored_type": type(restored).__name__,
            "norm_is_real": norm is scipy.stats.norm,
            "still_deferred": "scipy.stats" in deferred(),
        }))
        """
    )
    assert outcome == {
        "was_deferred": True,
        "restored_is_real": True,
        "restored_type": "function",
        "norm_is_real": True,
        "still_deferred": False,
    }


def test_a_submodule_import_runs_its_package_first() -> None:
    outcome = run(
        """
        import sklearn.metrics
        was = "scipy.stats" in deferred()
        import scipy.stats._stats_py as inner
        import scipy.stats
        print(json.dumps([
            was,
            "scipy.stats" in deferred(),
            inner is scipy.stats._stats_py,
            inner.__spec__.name,
            scipy.stats.gmean is inner.gmean,
        ]))
        """
    )
    # One module object, its code run once, with its own spec.
    assert outcome == [True, False, True, "scipy.stats._stats_py", True]


def test_threads_that_first_use_a_deferred_module_together_all_see_it_whole() -> None:
    outcome = run(
        """
        import threading
        import sklearn.metrics
        stats = sys.modules["scipy.stats"]
        assert "scipy.stats" in deferred()
        barrier, results = threading.Barrier(8), []
        def use():
            barrier.wait()
            results.append(float(stats.norm.cdf(0.0)))
        threads = [threading.Thread(target=use) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(json.dumps(results))
        """
    )
    assert outcome == [0.5] * 8


def test_the_switch_turns_it_off() -> None:
    outcome = run(
        """
        from app.aws import lazy_imports
        import sklearn.linear_model
        finders = [type(f).__name__ for f in sys.meta_path]
        print(json.dumps({"finder": "DeferringFinder" in finders, "deferred": deferred(),
                          "install": lazy_imports.install({"LAZY_IMPORTS": "0"})}))
        """,
        lazy=False,
    )
    assert outcome == {"finder": False, "deferred": [], "install": False}


@pytest.mark.skipif(not enabled(), reason="LAZY_IMPORTS is off for this run")
def test_this_suite_runs_with_the_lazy_imports_on() -> None:
    # conftest installs the hook before scikit-learn is imported, so the finder made SciPy's modules
    # here too (their spec carries its state, whether or not they have run since).
    import scipy.stats

    assert any(type(finder).__name__ == "DeferringFinder" for finder in sys.meta_path)
    assert type(scipy.stats.__spec__.loader_state).__name__ == "_State"
