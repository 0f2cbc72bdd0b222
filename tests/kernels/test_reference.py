"""Tests of modeinterp.reference, the plain-PyTorch oracle of the kernels (CPU only, fast)."""
import ast
import math

import numpy as np
import pytest
import scipy.stats
import torch

from modeinterp import reference as ref
from modeinterp.schedules import StepCoef

M32 = 0xFFFFFFFF

# Philox4x32-10 known answers (counter[4], key[2] -> output[4]) from the kat_vectors file of the
# Random123 distribution, as cut-and-pasted into D. E. Shaw Research's
# github.com/DEShawResearch/Random123-Boost, libs/random/test/test_philox.cpp
# (commit 916db91ae4c6fd8324ef054a518851321ab41f91, test_kat_philox4x32, the three R=10 lines).
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def py_philox(ctr, key):
    """Independent big-int Philox4x32-10 (bump before rounds 2..10), for random cross-checks."""
    c, (k0, k1) = list(ctr), key
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & M32, (p0 >> 32) ^ c[3] ^ k1, p0 & M32]
    return c


def np_box_muller(r, r2):
    """The design.md / normal.h float32 op order, in numpy float32."""
    f = np.float32
    u1 = (np.asarray(r, dtype=np.float64).astype(f) + f(1.0)) * f(2.0 ** -32)
    u2 = np.asarray(r2, dtype=np.float64).astype(f) * f(2.0 ** -32)
    radius = np.sqrt(f(-2.0) * np.log(u1))
    theta = f(6.2831853) * u2
    return radius * np.cos(theta), radius * np.sin(theta)


# ----------------------------------------------------------------------------- Philox
@pytest.mark.parametrize("ctr,key,want", KAT)
def test_philox_kat(ctr, key, want):
    got = ref.philox4x32_10(torch.tensor(ctr), torch.tensor(key))
    assert got.dtype == torch.int64 and got.tolist() == list(want)


def test_philox_batched_broadcast_and_random_vs_bigint():
    ctr = torch.tensor([k[0] for k in KAT])
    got = ref.philox4x32_10(ctr, torch.tensor([k[1] for k in KAT]))
    assert got.tolist() == [list(k[2]) for k in KAT]
    g = torch.Generator().manual_seed(0)
    ctr = torch.randint(0, 2 ** 32, (64, 4), generator=g, dtype=torch.int64)
    key = torch.randint(0, 2 ** 32, (2,), generator=g, dtype=torch.int64)  # broadcast key
    got = ref.philox4x32_10(ctr, key)
    assert got.tolist() == [py_philox(c, key.tolist()) for c in ctr.tolist()]


@pytest.mark.parametrize("ctr,key,exc", [
    (torch.zeros(3, dtype=torch.int64), torch.zeros(2, dtype=torch.int64), ValueError),
    (torch.tensor([0, 0, 0, 2 ** 32]), torch.zeros(2, dtype=torch.int64), ValueError),
    (torch.tensor([0, 0, 0, -1]), torch.zeros(2, dtype=torch.int64), ValueError),
    (torch.zeros(4), torch.zeros(2, dtype=torch.int64), TypeError),
])
def test_philox_bad_input(ctr, key, exc):
    with pytest.raises(exc, match="counter"):
        ref.philox4x32_10(ctr, key)


# ----------------------------------------------------------------------------- normals
def test_normal_stream_mapping_matches_philox_and_box_muller():
    # seed and step above 2^32 and offset above 2^32 exercise every high word.
    seed, step, offset, n = 0x123456789ABCDEF0, 2 ** 40 + 7, 2 ** 35 + 2, 37
    z = ref.philox_normal((n,), seed=seed, step=step, offset=offset)
    g = offset + np.arange(n)
    j, lane = g // 4, g % 4
    ctr = torch.tensor([[int(b) & M32, int(b) >> 32, step & M32, step >> 32] for b in j])
    r = ref.philox4x32_10(ctr, torch.tensor([seed & M32, seed >> 32])).numpy()
    z0, z1 = np_box_muller(r[:, 0], r[:, 1])
    z2, z3 = np_box_muller(r[:, 2], r[:, 3])
    want = np.stack([z0, z1, z2, z3], axis=1)[np.arange(n), lane]
    # Same float32 op order; numpy and torch libm may differ by an ulp or so in log/cos/sin.
    np.testing.assert_allclose(z.numpy(), want, rtol=1e-6, atol=4e-6)


def test_box_muller_rounds_u_in_float32():
    # r = 2^32 - 129 becomes 2^32 - 256 in float32 and the +1.0f is lost, so u1 = 1 - 2^-24 and
    # z != 0; a float64 u1 would be 1 - 2^-25, which rounds to 1.0f and gives z = 0.
    # r = 2^32 - 1 becomes 2^32, u1 = 1 exactly, radius = 0.
    r = torch.tensor([0, 1, 2 ** 31 + 1, 2 ** 32 - 129, 2 ** 32 - 128, 2 ** 32 - 1])
    r2 = torch.tensor([0, 2 ** 30, 3, 2 ** 31, 2 ** 32 - 1, 12345])
    consts = [torch.tensor(v, dtype=torch.float32) for v in (2.0 ** -32, 6.2831853, 1.0, -2.0)]
    z, z2 = ref._box_muller(r, r2, *consts)
    w, w2 = np_box_muller(r.numpy(), r2.numpy())
    np.testing.assert_allclose(z.numpy(), w, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(z2.numpy(), w2, rtol=1e-6, atol=1e-7)
    assert z[3] != 0 and z[5] == 0 and z2[5] == 0


def test_normal_statistics():
    n = 1 << 20
    z = ref.philox_normal((n,), seed=2024, step=999).double().numpy()
    assert np.isfinite(z).all() and np.abs(z).max() < math.sqrt(64 * math.log(2)) + 1e-3
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
    assert scipy.stats.kstest(z, "norm").pvalue > 1e-3
    # Lanes come from different Philox words and Box-Muller halves: each must be N(0, 1) too.
    for k in range(4):
        assert scipy.stats.kstest(z[k::4], "norm").pvalue > 1e-3


def test_normal_deterministic_and_shape():
    a = ref.philox_normal((3, 5, 7), seed=11, step=3, offset=9)
    b = ref.philox_normal([3, 5, 7], seed=11, step=3, offset=9)
    assert a.shape == (3, 5, 7) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert torch.equal(a.reshape(-1), ref.philox_normal(105, seed=11, step=3, offset=9))
    assert ref.philox_normal((0, 4), seed=1, step=1).shape == (0, 4)


@pytest.mark.parametrize("base", [0, 1, 2 ** 33 + 3, 2 ** 64 - 2000])
def test_normal_chunks_equal_one_call(base):
    total = 1001
    whole = ref.philox_normal((total,), seed=2 ** 63 + 5, step=2 ** 33 + 1, offset=base)
    cuts = [0, 1, 6, 13, 14, 400, 403, 1001]  # boundaries not multiples of 4
    parts = [ref.philox_normal((hi - lo,), seed=2 ** 63 + 5, step=2 ** 33 + 1, offset=base + lo)
             for lo, hi in zip(cuts[:-1], cuts[1:])]
    assert torch.equal(torch.cat(parts), whole)


def test_normal_differs_with_seed_step_offset():
    base = ref.philox_normal((256,), seed=1, step=10)
    for kw in (dict(seed=2, step=10), dict(seed=1 + 2 ** 32, step=10), dict(seed=1, step=11),
               dict(seed=1, step=10 + 2 ** 32), dict(seed=1, step=10, offset=1)):
        other = ref.philox_normal((256,), **kw)
        assert (other != base).float().mean() > 0.99, kw


@pytest.mark.parametrize("kw,exc,name", [
    (dict(seed=-1, step=0), ValueError, "seed"),
    (dict(seed=2 ** 64, step=0), ValueError, "seed"),
    (dict(seed=0, step=-3), ValueError, "step"),
    (dict(seed=0, step=2 ** 64), ValueError, "step"),
    (dict(seed=0, step=0, offset=-1), ValueError, "offset"),
    (dict(seed=0, step=0, offset=2 ** 64 - 2), ValueError, "offset"),  # offset + numel > 2^64
    (dict(seed=1.5, step=0), TypeError, "seed"),
])
def test_normal_bad_arguments(kw, exc, name):
    with pytest.raises(exc, match=name):
        ref.philox_normal((4,), **kw)


def test_normal_bad_shape():
    with pytest.raises(ValueError, match="shape"):
        ref.philox_normal((2, -1), seed=0, step=0)


# ----------------------------------------------------------------------------- fused step
Coef = StepCoef  # the reference duck-types it; tuples are tested separately


def rand_coef(rng, clip):
    v = rng.uniform(-2, 2, size=6)
    return Coef(*v[:5], abs(v[5]), clip)


def np_step32(x, out, coef, z):
    """The fused step in numpy float32, same op order: must agree bitwise with the reference."""
    f = np.float32
    a, b, c0, c1, c2, s, clip = (f(v) for v in coef)
    x0 = a * x + b * out
    if clip > 0:
        x0 = np.clip(x0, -clip, clip)
    return c0 * x0 + c1 * x + c2 * out + s * z, x0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("clip", [0.0, 1.0])
def test_fused_step_vs_numpy(dtype, clip):
    rng = np.random.default_rng(hash((str(dtype), clip)) % 2 ** 32)
    shape = (3, 4, 5)
    x = torch.from_numpy(rng.standard_normal(shape)).to(dtype)
    out = torch.from_numpy(rng.standard_normal(shape)).to(dtype)
    noise = torch.from_numpy(rng.standard_normal(shape)).float()
    for _ in range(5):
        coef = rand_coef(rng, clip)
        got, got_x0 = ref.fused_step(x, out, coef, noise=noise, return_x0=True)
        assert got.dtype == dtype and got_x0.dtype == dtype and got.shape == shape
        # float64 truth of the formula from the same (dtype-rounded) inputs
        xd, od, zd = x.double().numpy(), out.double().numpy(), noise.double().numpy()
        x0 = coef.a * xd + coef.b * od
        if clip > 0:
            x0 = np.clip(x0, -clip, clip)
        terms = [coef.c0 * x0, coef.c1 * xd, coef.c2 * od, coef.sigma * zd]
        want = sum(terms)
        eps = torch.finfo(dtype).eps if dtype != torch.float32 else 0.0
        scale = sum(np.abs(t) for t in terms)
        np.testing.assert_allclose(got.double().numpy(), want, rtol=eps, atol=1e-5 * scale.max())
        np.testing.assert_allclose(got_x0.double().numpy(), x0, rtol=eps, atol=1e-5 * 4)
        # bitwise: the same float32 op order in numpy, then the same final cast
        w32, x032 = np_step32(x.float().numpy(), out.float().numpy(), coef, noise.numpy())
        assert torch.equal(got, torch.from_numpy(w32).to(dtype))
        assert torch.equal(got_x0, torch.from_numpy(x032).to(dtype))


def test_fused_step_generated_noise_matches_philox_normal():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((4, 6))).float()
    out = torch.from_numpy(rng.standard_normal((4, 6))).float()
    coef = rand_coef(rng, 0.0)
    kw = dict(seed=2 ** 40 + 9, step=500, offset=2 ** 33 + 1)
    z = ref.philox_normal(x.shape, **kw)
    assert torch.equal(ref.fused_step(x, out, coef, **kw), ref.fused_step(x, out, coef, noise=z))
    # sharding the batch with the right offsets reproduces the unsharded step
    top = ref.fused_step(x[:1], out[:1], coef, **kw)
    rest = ref.fused_step(x[1:], out[1:], coef, **{**kw, "offset": kw["offset"] + 6})
    assert torch.equal(torch.cat([top, rest]), ref.fused_step(x, out, coef, **kw))
    # tuple coefficients are the same as the named ones
    assert torch.equal(ref.fused_step(x, out, tuple(coef), **kw), ref.fused_step(x, out, coef, **kw))
    # sigma == 0 and no noise: z = 0, whatever the seed
    det = coef._replace(sigma=0.0)
    want, _ = np_step32(x.numpy(), out.numpy(), det, np.float32(0))
    for seed in (0, 1, 2 ** 63):
        assert torch.equal(ref.fused_step(x, out, det, seed=seed, step=3), torch.from_numpy(want))


@pytest.mark.parametrize("clip", [0.0, 1.5])
def test_welford_matches_np_var(clip):
    rng = np.random.default_rng(7)
    shape, K = (3, 4, 5), 12
    x = torch.from_numpy(rng.standard_normal(shape)).float()
    mean = torch.zeros(shape)
    m2 = torch.zeros(shape)
    mean_id, m2_id = id(mean), id(m2)
    f, mean32, m232 = np.float32, np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    x0s = []
    for k in range(K):
        out = torch.from_numpy(rng.standard_normal(shape)).float()
        coef = Coef(rng.uniform(0.5, 1.5), rng.uniform(-1, 1), 0.5, 0.5, 0.1, 0.3, clip)
        x, x0 = ref.fused_step(x, out, coef, seed=3, step=1000 - k, mean=mean, m2=m2, count=k,
                               return_x0=True)
        x0s.append(x0.double().numpy())
        d = x0.numpy() - mean32  # the same Welford ops in numpy float32: bitwise equal
        mean32 = mean32 + d / f(k + 1)
        m232 = m232 + d * (x0.numpy() - mean32)
        assert np.array_equal(mean.numpy(), mean32) and np.array_equal(m2.numpy(), m232)
    assert id(mean) == mean_id and id(m2) == m2_id  # updated in place
    stack = np.stack(x0s)
    var = np.var(stack, axis=0, ddof=0)
    assert np.all(np.abs(m2.double().numpy() / K - var) <= 1e-5 * var)
    np.testing.assert_allclose(mean.double().numpy(), stack.mean(0), rtol=0, atol=1e-5 * stack.std())
    score = ref.trajectory_score(m2, K)
    assert score.dtype == torch.float32 and score.shape == (3,)
    np.testing.assert_allclose(score.double().numpy(), var.mean(axis=(1, 2)), rtol=1e-5)


def test_trajectory_score_simple():
    m2 = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    want = (m2 / 4).reshape(2, -1).mean(1)
    assert torch.allclose(ref.trajectory_score(m2, 4), want)
    with pytest.raises(ValueError, match="count"):
        ref.trajectory_score(m2, 0)
    with pytest.raises(TypeError, match="m2"):
        ref.trajectory_score(m2.double(), 1)


def _call(**over):
    x, out = torch.zeros(2, 3), torch.zeros(2, 3)
    kw = dict(x=x, out=out, coef=Coef(1, 0, 1, 0, 0, 0, 0))
    kw.update(over)
    return ref.fused_step(kw.pop("x"), kw.pop("out"), kw.pop("coef"), **kw)


@pytest.mark.parametrize("over,exc,name", [
    (dict(out=torch.zeros(3, 2)), ValueError, "out"),
    (dict(noise=torch.zeros(2, 4)), ValueError, "noise"),
    (dict(mean=torch.zeros(2, 3), m2=torch.zeros(2, 2)), ValueError, "m2"),
    (dict(mean=torch.zeros(2, 3, dtype=torch.float16), m2=torch.zeros(2, 3)), TypeError, "mean"),
    (dict(mean=torch.zeros(2, 3)), ValueError, "m2"),
    (dict(mean=torch.zeros(2, 3), m2=torch.zeros(2, 3), count=-1), ValueError, "count"),
    (dict(x=torch.zeros(2, 3, dtype=torch.int32)), TypeError, "x"),
    (dict(coef=(1.0, 2.0)), ValueError, "coef"),
    (dict(coef="abc"), TypeError, "coef"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(step=2 ** 64), ValueError, "step"),
    (dict(offset=-5), ValueError, "offset"),
])
def test_fused_step_bad_input(over, exc, name):
    with pytest.raises(exc, match=name):
        _call(**over)


def test_reference_has_no_extension_dependency():
    """reference.py (and the argument checks it shares with ops) import only torch and the
    standard library: never modeinterp._C or modeinterp.ops."""
    from modeinterp import validation

    for module in (ref, validation):
        mods = set()
        for node in ast.walk(ast.parse(open(module.__file__).read())):
            if isinstance(node, ast.Import):
                mods |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: only the shared argument checks
                    assert [a.name for a in node.names] == ["validation"], ast.dump(node)
                    continue
                mods.add(node.module.split(".")[0])
        assert mods <= {"__future__", "math", "numbers", "operator", "os", "torch", "numpy",
                        "typing"}, (module.__name__, mods)