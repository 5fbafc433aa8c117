"""Numbers that back up a feature-space picture.

* Proxy A-distance (Ben-David et al. 2007; Ganin et al. 2016): train a small domain classifier on
  half of the features, measure its error ``err`` on the other half, ``d_A = 2 (1 - 2 err)``.
  2 means the domains are perfectly separable; 0 means the classifier is at chance (aligned).
  Here the classifier is a logistic regression on standardised PCA-50 features.
* Nearest-neighbour class agreement: for each point with a known class, the fraction of its k = 5
  nearest neighbours (leaving itself out) that share its class. High means the classes form
  separate clusters; computed over both domains together, it drops when aligned domains mix their
  classes.
* Domain mixing: for each point, the fraction of its k = 10 nearest neighbours (in PCA-50 feature
  space, not in the 2-D picture) that come from the other domain, divided by the fraction random
  domain labels would give, ``n_other / (N - 1)``; the mean over all points. 1.0 is "as mixed as
  random labels", 0 is "no point has a neighbour from the other domain".
"""

from __future__ import annotations

import numpy as np

from explorer.errors import ExplorerError

# what the pages call each number (`named`: plain words, the field's name in brackets), and what it
# means in one line; the CSV downloads keep the field's names
PLAIN = {"a_distance": "domain separation", "knn": "same-class neighbours", "mixing": "domain mixing"}
SHORT = {"a_distance": "proxy A-distance", "knn": "5-NN class agreement", "mixing": None}
MEANING = {
    "a_distance": "how well a classifier trained on these features tells source from target: 2 = always, "
    "0 = no better than chance (the domains are aligned)",
    "knn": "the share of each point's 5 nearest neighbours that have its class: high = the classes form "
    "separate clusters",
    "mixing": "the share of each point's 10 nearest neighbours from the other domain, against what random "
    "domains would give: 1 = as mixed as random, 0 = apart",
}


def named(key: str) -> str:
    """A number as the pages name it: ``domain separation (proxy A-distance)``."""
    short = SHORT.get(key)
    return PLAIN.get(key, key) + (f" ({short})" if short else "")


def explained(key: str) -> str:
    """A number's full name and what it means, for a tooltip: ``domain separation (proxy A-distance):
    how well ...``."""
    return f"{named(key)}: {MEANING[key]}"


def _pca(features: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(n_components=min(50, *features.shape), random_state=seed).fit_transform(features)


def proxy_a_distance(features: np.ndarray, domain: np.ndarray, seed: int = 0) -> float:
    """Both domains are first subsampled to the same size, so predicting the larger one is no help."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    idx = [np.flatnonzero(domain == d) for d in (0, 1)]
    n = min(len(i) for i in idx)
    if n < 2:
        raise ExplorerError("The A-distance needs at least 2 points from each domain.")
    keep = np.concatenate([rng.choice(i, n, replace=False) for i in idx])
    features, domain = features[keep], domain[keep]
    x = _pca(features.astype(np.float64), seed)
    spread = x.std(0)
    # directions with no variance would scale to NaN
    x = x[:, spread > 1e-6 * max(spread.max(initial=0.0), 1e-30)]
    if x.shape[1] == 0:
        return 0.0  # every point has the same features: nothing tells the domains apart
    x = StandardScaler().fit_transform(x)
    x_tr, x_te, d_tr, d_te = train_test_split(x, domain, test_size=0.5, random_state=seed, stratify=domain)
    err = 1.0 - LogisticRegression(max_iter=1000).fit(x_tr, d_tr).score(x_te, d_te)
    return float(np.clip(2.0 * (1.0 - 2.0 * err), 0.0, 2.0))


def knn_class_agreement(features: np.ndarray, labels: np.ndarray, k: int = 5) -> float | None:
    """Mean fraction of the k nearest neighbours with the same class, over points whose class is
    known (>= 0)."""
    from sklearn.neighbors import NearestNeighbors

    known = labels >= 0
    if known.sum() <= k:
        return None
    x, y = _pca(features[known]), labels[known]
    _, nn = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return float((y[nn[:, 1:]] == y[:, None]).mean())


def domain_mixing(features: np.ndarray, domain: np.ndarray, k: int = 10) -> float:
    from sklearn.neighbors import NearestNeighbors

    n = len(domain)
    sizes = np.bincount(domain, minlength=2)
    if n <= k or sizes.min() == 0:
        raise ExplorerError(f"Domain mixing needs both domains and more than {k} points.")
    x = _pca(features)
    _, nn = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    other = (domain[nn[:, 1:]] != domain[:, None]).mean(1)
    expected = sizes[1 - domain] / (n - 1)
    return float((other / expected).mean())
