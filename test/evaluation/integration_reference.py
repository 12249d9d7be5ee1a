#!/usr/bin/env python3
"""Float64 numpy references of the batch-correction metrics, written from their definitions (no peer
code): scikit-learn's silhouette (naive loops), scIB's silhouette on batch within labels, LISI
(Korsunsky et al. 2019: perplexity-calibrated Gaussian kernel over 3 x perplexity neighbours,
inverse Simpson's index) and scIB's graph connectivity (breadth-first search). Writes the fixture
that test/evaluation/integration-metrics.test.ts compares the TypeScript metrics with.

    python3 test/evaluation/integration_reference.py   # writes test/fixtures/integration-metrics-reference.json
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def dist_matrix(X, kind):
    if kind == 'euclidean':
        return np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    return 1 - U @ U.T


def silhouette_samples(X, labels, kind):
    D = dist_matrix(X, kind)
    n = len(labels)
    out = np.zeros(n)
    for i in range(n):
        own = [j for j in range(n) if labels[j] == labels[i] and j != i]
        if not own:
            out[i] = 0.0
            continue
        a = np.mean([D[i, j] for j in own])
        b = min(np.mean([D[i, j] for j in range(n) if labels[j] == other]) for other in set(labels) if other != labels[i])
        out[i] = (b - a) / max(a, b)
    return out


def silhouette_batch(X, labels, batches, kind):
    scores = []
    for lab in sorted(set(labels), key=labels.index):
        rows = [i for i in range(len(labels)) if labels[i] == lab]
        nb = len(set(batches[i] for i in rows))
        if nb == 1 or nb == len(rows):
            continue
        s = silhouette_samples(X[rows], [batches[i] for i in rows], kind)
        scores.append(np.mean(1 - np.abs(s)))
    return float(np.mean(scores)), len(scores)


def lisi(X, cats, perplexity):
    n = len(cats)
    p_eff = min(perplexity, (n - 1) / 3)
    k = max(1, int(np.floor(3 * p_eff)))
    D = dist_matrix(X, 'euclidean')
    out = []
    for i in range(n):
        d = D[i].copy()
        d[i] = np.inf
        nbr = np.lexsort((np.arange(n), d))[:k]
        dist = D[i, nbr]
        beta, lo, hi = 1.0, -np.inf, np.inf
        logU = np.log(p_eff)

        def hbeta(beta):
            P = np.exp(-dist * beta)
            s = P.sum()
            if s == 0:
                return 0.0, np.zeros_like(P)
            return np.log(s) + beta * np.sum(dist * P) / s, P / s

        H, P = hbeta(beta)
        for _ in range(50):
            if abs(H - logU) < 1e-5:
                break
            if H - logU > 0:
                lo = beta
                beta = beta * 2 if not np.isfinite(hi) else (beta + hi) / 2
            else:
                hi = beta
                beta = beta / 2 if not np.isfinite(lo) else (beta + lo) / 2
            H, P = hbeta(beta)
        if H == 0:
            out.append(np.nan)
            continue
        simpson = sum(P[[cats[j] == c for j in nbr]].sum() ** 2 for c in set(cats))
        out.append(1 / simpson)
    return np.array(out), k, p_eff


def graph_connectivity(X, labels, k):
    D = dist_matrix(X, 'euclidean')
    n = len(labels)
    adj = [set() for _ in range(n)]
    for i in range(n):
        d = D[i].copy()
        d[i] = np.inf
        for j in np.lexsort((np.arange(n), d))[:k]:
            adj[i].add(int(j))
            adj[int(j)].add(i)
    shares = []
    for lab in sorted(set(labels), key=labels.index):
        members = [i for i in range(n) if labels[i] == lab]
        seen, best = set(), 0
        for s in members:
            if s in seen:
                continue
            comp, stack = 0, [s]
            seen.add(s)
            while stack:
                v = stack.pop()
                comp += 1
                for w in adj[v]:
                    if labels[w] == lab and w not in seen:
                        seen.add(w)
                        stack.append(w)
            best = max(best, comp)
        shares.append(best / len(members))
    return float(np.mean(shares))


if __name__ == '__main__':
    rng = np.random.default_rng(3)
    n, d = 150, 5
    labels = [f'L{i % 4}' for i in range(n)]
    batches = [f'B{(i // 7) % 3}' for i in range(n)]
    labels[0:3] = ['solo'] * 3  # a label on one batch only: skipped by the batch silhouette
    batches[0:3] = ['B0'] * 3
    centres = {l: rng.normal(scale=2.0, size=d) for l in set(labels)}
    shifts = {b: rng.normal(scale=1.0, size=d) for b in set(batches)}
    X = np.array([centres[labels[i]] + shifts[batches[i]] + rng.normal(size=d) for i in range(n)])
    out = {'n': n, 'd': d, 'x': X.ravel().tolist(), 'labels': labels, 'batches': batches, 'cases': {}}
    for kind in ['euclidean', 'cosine']:
        s = silhouette_samples(X, labels, kind)
        sb, nl = silhouette_batch(X, labels, batches, kind)
        out['cases'][kind] = {'samples': s.tolist(), 'labelScore': float((s.mean() + 1) / 2), 'batchScore': sb, 'labelsScored': nl}
    for perplexity in [30, 10]:
        il, k, p = lisi(X, batches, perplexity)
        cl, _, _ = lisi(X, labels, perplexity)
        out['cases'][f'lisi{perplexity}'] = {'ilisi': il.tolist(), 'clisi': cl.tolist(), 'k': k, 'perplexity': p}
    # Fewer profiles than 91: the perplexity drops to (n - 1) / 3.
    il, k, p = lisi(X[:40], batches[:40], 30)
    out['cases']['lisiSmall'] = {'ilisi': il.tolist(), 'k': k, 'perplexity': p}
    out['cases']['graph'] = {'k15': graph_connectivity(X, labels, 15), 'k5': graph_connectivity(X, labels, 5)}
    path = os.path.join(HERE, '..', 'fixtures', 'integration-metrics-reference.json')
    with open(path, 'w') as f:
        json.dump(out, f)
    print('wrote', path)
