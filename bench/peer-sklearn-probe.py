"""Reference values of the linear probe from scikit-learn (the probe's sklearn-equivalent settings).

Writes test/fixtures/sklearn-logistic.json: a seeded 4-class problem (train and test rows), the
coefficients, intercepts, test predictions and iterations of
StandardScaler + LogisticRegression(C=1, lbfgs, tol=1e-4, multinomial). The vitest suite fits our
probe on the same rows and compares.

Run: /usr/bin/python3 bench/peer-sklearn-probe.py   (Debian python3-sklearn 1.2)
"""
import json
import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

rng = np.random.default_rng(7)
n_train, n_test, d, k = 240, 120, 12, 4
centres = rng.normal(0, 1.0, size=(k, d))
def draw(n):
    y = rng.integers(0, k, size=n)
    x = centres[y] + rng.normal(0, 1.6, size=(n, d)) + 3.0  # offset: standardisation matters
    x[:, 0] *= 25.0  # one feature on another scale
    return x.astype(np.float32), y
xtr, ytr = draw(n_train)
xte, yte = draw(n_test)
sc = StandardScaler().fit(xtr.astype(np.float64))
out = {"sklearn": sklearn.__version__, "d": d, "classes": [f"c{i}" for i in range(k)],
       "xTrain": xtr.ravel().tolist(), "yTrain": [f"c{i}" for i in ytr], "xTest": xte.ravel().tolist(), "yTest": [f"c{i}" for i in yte], "fits": []}
for C in (1.0, 0.05):
    m = LogisticRegression(C=C, solver="lbfgs", tol=1e-4, max_iter=10000, multi_class="multinomial").fit(sc.transform(xtr.astype(np.float64)), ytr)
    # A tight fit of the same objective: the coefficients the probe should reach.
    tight = LogisticRegression(C=C, solver="lbfgs", tol=1e-10, max_iter=100000, multi_class="multinomial").fit(sc.transform(xtr.astype(np.float64)), ytr)
    pred = tight.predict(sc.transform(xte.astype(np.float64)))
    out["fits"].append({"C": C, "iterations": int(m.n_iter_[0]), "coef": tight.coef_.ravel().tolist(), "intercept": tight.intercept_.tolist(),
                        "testPredictions": [f"c{i}" for i in pred], "testAccuracy": float((pred == yte).mean())})
json.dump(out, open("test/fixtures/sklearn-logistic.json", "w"))
print(json.dumps({k: v for k, v in out.items() if k == "sklearn"}), [(f["C"], f["iterations"], f["testAccuracy"]) for f in out["fits"]])
