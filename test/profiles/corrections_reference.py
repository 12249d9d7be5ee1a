#!/usr/bin/env python3
"""Float64 numpy references of ComBat (Johnson et al. 2007), Harmony (Korsunsky et al. 2019), PCA and
ZCA-cor sphering (pycytominer's Spherize semantics),
written from the papers' algorithms (no peer code), on drawn inputs; writes the fixtures that
test/profiles/combat.test.ts and harmony.test.ts compare the TypeScript implementations with.

    python3 test/profiles/corrections_reference.py   # writes test/fixtures/{combat,harmony,sphering}-reference.json

Only numpy. Harmony's random parts (initial centroids, the block order of each assignment update)
are drawn here and stored, so both implementations run on the same draws.
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', 'fixtures')


# ---------------------------------------------------------------- ComBat, one feature at a time
def combat_reference(x, batch, cov, mean_only=False, tol=1e-4):
    """x [n, d]; batch codes [n]; cov [n, c] dummy columns (may be c = 0)."""
    n, d = x.shape
    levels = sorted(set(batch.tolist()))
    B = len(levels)
    members = [np.where(batch == b)[0] for b in levels]
    out = x.copy()
    # Features constant within some batch are not adjusted.
    keep = [j for j in range(d) if all(np.ptp(x[m, j]) > 0 for m in members)]
    design = np.zeros((n, B + cov.shape[1]))
    for b, m in enumerate(members):
        design[m, b] = 1.0
    design[:, B:] = cov
    s = np.zeros((n, len(keep)))
    var_pooled = np.zeros(len(keep))
    stand_mean = np.zeros((n, len(keep)))
    for k, j in enumerate(keep):
        coef, *_ = np.linalg.lstsq(design, x[:, j], rcond=None)
        fitted = design @ coef
        var_pooled[k] = np.mean((x[:, j] - fitted) ** 2)
        grand = sum(len(members[b]) / n * coef[b] for b in range(B))
        stand_mean[:, k] = grand + cov @ coef[B:]
        s[:, k] = (x[:, j] - stand_mean[:, k]) / np.sqrt(var_pooled[k])
    gamma_star = np.full((B, d), np.nan)
    delta_star = np.full((B, d), np.nan)
    for b, m in enumerate(members):
        nb = len(m)
        g_hat = np.array([np.mean(s[m, k]) for k in range(len(keep))])
        d_hat = np.array([np.var(s[m, k], ddof=1) for k in range(len(keep))])
        g_bar = np.mean(g_hat)
        t2 = np.var(g_hat, ddof=1)
        dm, dv = np.mean(d_hat), np.var(d_hat, ddof=1)
        a = (2 * dv + dm ** 2) / dv
        bb = (dm * dv + dm ** 3) / dv
        if mean_only:
            g_new = (t2 * nb * g_hat + g_bar) / (t2 * nb + 1)
            d_new = np.ones_like(d_hat)
        else:
            g_old, d_old = g_hat.copy(), d_hat.copy()
            while True:
                g_new = (t2 * nb * g_hat + d_old * g_bar) / (t2 * nb + d_old)
                d_new = np.array([(0.5 * np.sum((s[m, k] - g_new[k]) ** 2) + bb) / (nb / 2 + a - 1) for k in range(len(keep))])
                change = max(np.max(np.abs(g_new - g_old) / np.abs(g_old)), np.max(np.abs(d_new - d_old) / np.abs(d_old)))
                g_old, d_old = g_new, d_new
                if not change > tol:
                    break
        for k, j in enumerate(keep):
            gamma_star[b, j] = g_new[k]
            delta_star[b, j] = d_new[k]
            out[m, j] = (s[m, k] - g_new[k]) / np.sqrt(d_new[k]) * np.sqrt(var_pooled[k]) + stand_mean[m, k]
    return out, gamma_star, delta_star, [j for j in range(d) if j not in keep]


def combat_cases():
    rng = np.random.default_rng(7)
    sizes = [15, 20, 25]
    n, d = sum(sizes), 5
    batch = np.repeat(np.arange(3), sizes)
    covariate = (np.arange(n) % 2).astype(float)  # crosses the batches
    x = rng.normal(size=(n, d)) + covariate[:, None] * np.array([1.0, -0.5, 0.0, 2.0, 0.3])
    for b in range(3):
        m = batch == b
        x[m] = x[m] * (1 + 0.5 * b) + np.array([b, -b, 2 * b, 0.5, 0.0])
    x[batch == 1, 4] = 3.0  # constant within batch 1: left unadjusted
    cases = []
    for name, cov, mean_only in [('plain', np.zeros((n, 0)), False), ('covariate', covariate[:, None], False), ('mean-only', np.zeros((n, 0)), True)]:
        out, g, dl, unadj = combat_reference(x, batch, cov, mean_only)
        cases.append({'name': name, 'meanOnly': mean_only, 'cov': cov.ravel().tolist(), 'c': cov.shape[1], 'out': out.ravel().tolist(),
                      'gammaStar': np.nan_to_num(g, nan=-999).ravel().tolist(), 'deltaStar': np.nan_to_num(dl, nan=-999).ravel().tolist(), 'unadjusted': unadj})
    return {'n': n, 'd': d, 'batch': batch.tolist(), 'x': x.ravel().tolist(), 'covariate': covariate.tolist(), 'cases': cases}


# ---------------------------------------------------------------- Harmony, matrices with profiles as columns
def harmony_reference(Z, codes, levels, theta, lamb, sigma, K, block_size, max_iter, max_iter_km, eps_cluster, eps_harmony, Y0, perms):
    N, k = Z.shape
    Phi = np.vstack([np.eye(L)[c].T for c, L in zip(codes, levels)])  # B x N
    B = Phi.shape[0]
    Pr_b = Phi.sum(axis=1) / N
    theta_b = np.repeat(theta, levels).astype(float)
    lamb_mat = np.diag(np.concatenate([[0.0], np.repeat(lamb, levels).astype(float)]))
    Phi_moe = np.vstack([np.ones(N), Phi])
    Z_orig = Z.T.copy()
    Z_cos = Z_orig / np.linalg.norm(Z_orig, axis=0)
    Y = Y0.T / np.linalg.norm(Y0.T, axis=0)
    perm_iter = iter(perms)

    def soft(dist):
        a = -dist / sigma
        a = a - a.max(axis=0)
        return np.exp(a)

    dist = 2 * (1 - Y.T @ Z_cos)
    R = soft(dist)
    R = R / R.sum(axis=0)
    E = np.outer(R.sum(axis=1), Pr_b)
    O = R @ Phi.T
    obj_km, obj_h, rounds = [], [], []

    def objective():
        err = np.sum(R * dist)
        with np.errstate(divide='ignore', invalid='ignore'):
            ent = np.where(R > 0, R * np.log(R), 0.0)
        ent = sigma * np.sum(ent)
        w = (theta_b[None, :] * np.log((O + 1) / (E + 1))) @ Phi  # K x N
        cross = np.sum(R * sigma * w)
        obj_km.append(err + ent + cross)

    objective()
    obj_h.append(obj_km[-1])
    converged = False
    it_done = 0
    for it in range(1, max_iter + 1):
        for i in range(max_iter_km):
            Y = Z_cos @ R.T
            Y = Y / np.linalg.norm(Y, axis=0)
            dist = 2 * (1 - Y.T @ Z_cos)
            scale = soft(dist)
            order = np.array(next(perm_iter))
            for blk in np.array_split(order, int(np.ceil(1 / block_size))):
                if len(blk) == 0:
                    continue
                E -= np.outer(R[:, blk].sum(axis=1), Pr_b)
                O -= R[:, blk] @ Phi[:, blk].T
                R[:, blk] = scale[:, blk] * (np.power((E + 1) / (O + 1), theta_b[None, :]) @ Phi[:, blk])
                R[:, blk] = R[:, blk] / R[:, blk].sum(axis=0)
                E += np.outer(R[:, blk].sum(axis=1), Pr_b)
                O += R[:, blk] @ Phi[:, blk].T
            objective()
            if i > 3:
                old = sum(obj_km[-2 - w] for w in range(3))
                new = sum(obj_km[-1 - w] for w in range(3))
                if abs(old - new) / abs(old) < eps_cluster:
                    break
        rounds.append(i)
        obj_h.append(obj_km[-1])
        Z_corr = Z_orig.copy()
        for c in range(K):
            Phi_Rk = Phi_moe * R[c, :]
            W = np.linalg.solve(Phi_Rk @ Phi_moe.T + lamb_mat, Phi_Rk @ Z_orig.T)
            W[0, :] = 0
            Z_corr -= W.T @ Phi_Rk
        Z_cos = Z_corr / np.linalg.norm(Z_corr, axis=0)
        it_done = it
        if (obj_h[-2] - obj_h[-1]) / abs(obj_h[-2]) < eps_harmony:
            converged = True
            break
    return Z_corr.T, R, it_done, converged, obj_h, rounds, sum(r + 1 for r in rounds)


def harmony_cases():
    rng = np.random.default_rng(11)
    N, k = 120, 6
    cluster = np.arange(N) % 3
    batch = (np.arange(N) // 60).astype(int)  # 2 batches of 60
    plate = (np.arange(N) // 20).astype(int) % 3  # a second covariate, 3 levels crossing both
    centres = rng.normal(scale=3.0, size=(3, k))
    shift = np.array([[0.0] * k, [2.5, -1.5, 1.0, 0.0, 0.5, -0.5]])
    Z = centres[cluster] + 0.5 * rng.normal(size=(N, k)) + shift[batch]
    cases = []
    for name, codes, levels, theta, lamb, block, K in [
        ('one-variable', [batch], [2], [2.0], [1.0], 0.05, 4),
        ('two-variables', [batch, plate], [2, 3], [2.0, 1.0], [1.0, 0.5], 0.05, 4),
        ('one-block', [batch], [2], [2.0], [1.0], 1.0, 3),
    ]:
        Y0 = Z[rng.choice(N, size=K, replace=False)] + 0.1 * rng.normal(size=(K, k))
        perms = [rng.permutation(N).tolist() for _ in range(10 * 20)]
        zc, R, it, conv, obj, rounds, used = harmony_reference(Z, codes, levels, np.array(theta), np.array(lamb), 0.1, K, block, 10, 20, 1e-5, 1e-4, Y0, perms)
        cases.append({'name': name, 'codes': [c.tolist() for c in codes], 'levels': levels, 'theta': theta, 'lambda': lamb, 'blockSize': block, 'nClusters': K,
                      'init': Y0.ravel().tolist(), 'perms': perms[:used], 'z': zc.ravel().tolist(), 'r': R.ravel().tolist(), 'iterations': it, 'converged': conv,
                      'objective': obj, 'kmeansRounds': rounds})
    # PCA by SVD (numpy), signs as scikit-learn's svd_flip: each component's largest |score| positive.
    # One table with more rows than features (covariance route), one with fewer (Gram route).
    pca = []
    for n_rows, n_feat, k_keep in [(40, 7, 4), (5, 9, 3)]:
        X = rng.normal(size=(n_rows, n_feat)) @ rng.normal(size=(n_feat, n_feat)) + 5.0
        Xc = X - X.mean(axis=0)
        U, S, Vt = np.linalg.svd(Xc, full_matrices=False)
        scores = U * S
        for q in range(scores.shape[1]):
            if scores[np.argmax(np.abs(scores[:, q])), q] < 0:
                scores[:, q] *= -1
        pca.append({'n': n_rows, 'd': n_feat, 'x': X.ravel().tolist(), 'scores': scores[:, :k_keep].ravel().tolist(), 'k': k_keep,
                    'explained': float(np.sum(S[:k_keep] ** 2) / np.sum(S ** 2))})
    return {'n': N, 'k': k, 'z': Z.ravel().tolist(), 'cases': cases, 'pca': pca}


# ---------------------------------------------------------------- sphering (ZCA-cor) on the fit rows
def sphering_reference(X, fit, eps):
    F = X[fit]
    mean = F.mean(axis=0)
    sd = F.std(axis=0)  # population sd
    Z = (F - mean) / sd
    R = np.corrcoef(Z.T)
    t, G = np.linalg.eigh(R)
    W = G @ np.diag(1 / np.sqrt(np.clip(t, eps, None))) @ G.T
    return ((X - mean) / sd) @ W


def sphering_cases():
    rng = np.random.default_rng(5)
    n, d = 80, 6
    # float32 values: the TypeScript tables hold float32 features.
    X = (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3.0).astype(np.float32).astype(np.float64)
    many = np.arange(n) % 2 == 0  # 40 fit rows > 6 features
    few = np.arange(n) % 20 == 0  # 4 fit rows < 6 features: the eigenvalue floor acts
    return {'n': n, 'd': d, 'x': X.ravel().tolist(), 'cases': [
        {'name': 'many', 'fit': many.tolist(), 'out': sphering_reference(X, many, 1e-6).ravel().tolist()},
        {'name': 'few', 'fit': few.tolist(), 'out': sphering_reference(X, few, 1e-6).ravel().tolist()},
    ]}


if __name__ == '__main__':
    os.makedirs(FIXTURES, exist_ok=True)
    for name, data in [('combat-reference.json', combat_cases()), ('harmony-reference.json', harmony_cases()), ('sphering-reference.json', sphering_cases())]:
        with open(os.path.join(FIXTURES, name), 'w') as f:
            json.dump(data, f)
        print('wrote', os.path.join(FIXTURES, name))
