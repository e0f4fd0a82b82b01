"""The TensorBoard dashboard of a run: a custom-scalars layout ("Stability", "Quality") and hparams.

Written by the training loop into the run's own event file (no extra sub-run), so that
`tensorboard --logdir GROUP_DIR` overlays the runs chart by chart, and the HParams tab lists the config
keys each run reads (those that differ across the runs come first) against its final scalar metrics.
"""

from __future__ import annotations

from typing import Any

# section -> chart title -> tag regexes (custom scalars match tags by regex, runs are overlaid).
Layout = dict[str, dict[str, list[str]]]

# The toy GAN's layout; a trainer may declare its own as a `dashboard` attribute.
GAN_LAYOUT: Layout = {
    "Stability": {
        "D gradient norm, parameters ‖∇θ loss_D‖": [r"^stability/grad_norm_D$"],
        "D gradient norm, input ‖∂D/∂x‖ (real, fake, mixed)": [r"^stability/grad_input_(real|fake|mixed)$"],
        "D(x) vs D(g(z))": [r"^stability/D_real$", r"^stability/D_fake$"],
        "losses": [r"^loss/D$", r"^loss/G$"],
        "G gradient norm": [r"^stability/grad_norm_G$"],
    },
    "Quality": {
        "modes captured": [r"^quality/modes$"],
        "high-quality fraction": [r"^quality/high_quality$"],
        "reverse KL": [r"^quality/reverse_kl$"],
        "density and coverage (Naeem et al. 2020, k = 5)": [r"^quality/(density|coverage)$"],
        "sliced W1 to the real sample": [r"^quality/sliced_w1$"],
        "log-likelihood under the true mixture": [r"^quality/loglik$"],
        # One point each, at the last iteration: the final model on metrics.final_samples samples.
        "final model, large sample: high quality, density, coverage": [
            r"^final_large/(high_quality|density|coverage)$"],
        "final model, large sample: modes, reverse KL, sliced W1, log-likelihood": [
            r"^final_large/(modes|reverse_kl|sliced_w1|loglik)$"],
    },
}



def gan_layout(probability: bool = True, ema: bool = False) -> Layout:
    """The toy GAN's layout for one run: a critic that is not a probability (hinge, least squares,
    WGAN) shows its raw outputs under its own title; an EMA of G gets its quality chart."""
    layout = {section: dict(charts) for section, charts in GAN_LAYOUT.items()}
    if not probability:
        layout["Stability"] = {("critic(x) vs critic(g(z)), raw outputs (not probabilities)"
                                if title.startswith("D(x)") else title):
                               ([r"^stability/critic_(real|fake)$"] if title.startswith("D(x)") else tags)
                               for title, tags in layout["Stability"].items()}
    if ema:
        layout["Quality"]["EMA of G: modes, high quality (train.ema)"] = [
            r"^quality_ema/(modes|high_quality)$"]
        layout["Quality"]["EMA of G: density, coverage (train.ema)"] = [r"^quality_ema/(density|coverage)$"]
    return layout


# For a trainer that declares nothing: one chart per tag family.
DEFAULT_LAYOUT: Layout = {
    "Stability": {"losses": [r"^loss/"], "stability": [r"^stability/"]},
    "Quality": {"quality": [r"^quality/"]},
}

# Run bookkeeping that says nothing about the experiment, left out of the hparams.
SKIP_HPARAMS = ("run.", "device")

# summary.json status -> hparams session status
_STATUS = {"completed": "STATUS_SUCCESS", "diverged": "STATUS_FAILURE", "interrupted": "STATUS_UNKNOWN"}


def layout_for(trainer: Any) -> Layout:
    """The layout the trainer declares (`trainer.dashboard`), else DEFAULT_LAYOUT."""
    return getattr(trainer, "dashboard", None) or DEFAULT_LAYOUT


def write_layout(writer: Any, layout: Layout) -> None:
    """Write the custom-scalars layout into `writer`'s event file (TensorBoard merges those of all runs)."""
    writer.add_custom_scalars({section: {title: ["Multiline", tags] for title, tags in charts.items()}
                               for section, charts in layout.items()})


def flat_hparams(config: dict[str, Any], prefix: str = "") -> dict[str, float | str | bool]:
    """Leaf config values as dotted keys (lists become strings; None and run bookkeeping are left out)."""
    out: dict[str, float | str | bool] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_hparams(value, f"{name}."))
        elif value is None or name.startswith(SKIP_HPARAMS):
            continue
        elif isinstance(value, bool | str):
            out[name] = value
        elif isinstance(value, int | float):
            out[name] = float(value)
        else:
            out[name] = str(value)
    return out


def used_hparams(config: dict[str, Any], reads: dict[str, tuple[str, ...]],
                 drop: tuple[str, ...] = ()) -> dict[str, float | str | bool]:
    """`flat_hparams` of only the keys a run reads: in each section named in `reads`, its `name` and the
    listed keys (e.g. objective: the objective's `reads`); keys in `drop` (constant or unused) go too."""
    out = {}
    for key, value in flat_hparams(config).items():
        section, _, leaf = key.partition(".")
        if key in drop or (section in reads and leaf != "name" and leaf not in reads[section]):
            continue
        out[key] = value
    return out


def hparams_for(trainer: Any, config: dict[str, Any]) -> dict[str, float | str | bool]:
    """The hparams a run logs: the keys the trainer says the run reads (`trainer.hparams(config)`, e.g.
    trainers/gan_hparams.py), else every config key but the run bookkeeping."""
    pick = getattr(trainer, "hparams", None)
    return pick(config) if callable(pick) else flat_hparams(config)


def _hparams_summary(tag_field: str, message: Any) -> Any:
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.plugins.hparams import metadata
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    tag = {"session_start_info": metadata.SESSION_START_INFO_TAG,
           "session_end_info": metadata.SESSION_END_INFO_TAG}[tag_field]
    content = HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **{tag_field: message})
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
        plugin_name=metadata.PLUGIN_NAME, content=content.SerializeToString()))
    return Summary(value=[Summary.Value(tag=tag, metadata=meta)])


def write_hparams_start(writer: Any, hparams: dict[str, float | str | bool], group_name: str = "") -> None:
    """The run's hparams (`hparams_for`). No experiment summary is written on purpose: TensorBoard then
    builds it from all runs, lists the keys that differ first, and takes every scalar tag as a metric
    (its last value: the final metrics). TensorBoard always puts the hparam columns before the metric
    columns; logging only the keys a run reads keeps the metrics near the left edge."""
    import time

    from tensorboard.plugins.hparams.plugin_data_pb2 import SessionStartInfo

    info = SessionStartInfo(group_name=group_name, start_time_secs=time.time())
    for key, value in hparams.items():
        if isinstance(value, bool):
            info.hparams[key].bool_value = value
        elif isinstance(value, str):
            info.hparams[key].string_value = value
        else:
            info.hparams[key].number_value = value
    writer.file_writer.add_summary(_hparams_summary("session_start_info", info))


def write_hparams_end(writer: Any, status: str) -> None:
    """Close the hparams session: completed → success, diverged → failure, interrupted → unknown."""
    import time

    from tensorboard.plugins.hparams.api_pb2 import Status
    from tensorboard.plugins.hparams.plugin_data_pb2 import SessionEndInfo

    code = Status.Value(_STATUS.get(status, "STATUS_FAILURE"))
    info = SessionEndInfo(status=code, end_time_secs=time.time())
    writer.file_writer.add_summary(_hparams_summary("session_end_info", info))
    writer.flush()


def start_run(writer: Any, trainer: Any, config: dict[str, Any]) -> None:
    """The loop's hook at the start of every run (also after a resume): layout and hparams."""
    write_layout(writer, layout_for(trainer))
    write_hparams_start(writer, hparams_for(trainer, config))


def end_run(writer: Any, status: str) -> None:
    """The loop's hook at the end of every run, whatever its status."""
    write_hparams_end(writer, status)
