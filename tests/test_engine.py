"""The engine both drivers share: progress on stderr when asked (a bar that ends where the
fit stopped), nothing when not, and devices named as ``N x platform``."""

import re

import jax

import bayesgen as bg
from bayesgen._engine import device_description

MODEL = bg.models.Ising((3, 3))


def test_progress_bars_and_device_names(capsys):
    data = MODEL.sample(jax.random.key(0), {"beta": 0.3, "h": 0.0}, 200)
    fit = bg.fit(MODEL, data, "pseudo_likelihood", progress=True)
    err = capsys.readouterr().err
    bars = re.findall(r"pseudo_likelihood: +100%\|.*?\| (\d+)/(\d+)", err)
    assert bars, err
    done, total = map(int, bars[-1])
    assert done == total == len(fit.loss_trace)
    assert fit.device == device_description() == f"{len(jax.local_devices())} x cpu"

    bg.fit(MODEL, data, "pseudo_likelihood", progress=False)
    post = bg.sample_posterior(
        MODEL,
        data,
        "pseudo_posterior",
        num_warmup=50,
        num_samples=50,
        num_chains=2,
        progress=True,
        chain_method="sequential",
    )
    err = capsys.readouterr().err
    assert "pseudo_likelihood" not in err and re.search(r"pseudo_posterior: 100%.* 2/2", err)
    assert post.device == fit.device
