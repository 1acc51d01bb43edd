"""Benchmarks for the media layer: `python bench/run.py [--quick] [--clips 1080p10s,720p5s] [--runs N]`.

Per clip, every decode method runs in its own fresh process (bench/methods.py), so peak memory is
that method's alone:
  ours   nodes.media.video_decode.decode_frames
  core   ComfyUI's VideoFromFile(path).get_components() from the real tree in $COMFYUI_DIR
  vhs    a re-creation of VideoHelperSuite's ffmpeg loader (imageio-ffmpeg's binary; falls back to a
         PyAV re-creation of the same generator + np.fromiter shape, reported as vhs_pyav)
  floor  PyAV frame-threaded decode with no conversion at all
Also: reference-image encode times and the pack's import time. `--fanout` runs only the fan-out
scenario instead (bench/fanout.py: takes in one node vs ComfyUI's batch count, in a real ComfyUI);
`--journal` only the journal bench (bench/journal.py: SQLite vs PostgreSQL at 10k and 100k requests);
`--done-to-frames` only fal COMPLETED -> frames on throttled links, streaming on and off (bench/stream.py);
`--run-to-submitted` only Run -> submit reaching fal on a throttled storage uplink (bench/submit.py).
Prints `name: value` lines and writes bench/out/results.md and bench/out/performance_table.md; it changes
no tracked file. `--refresh-docs` (also spelled `--refresh-readme`) is the separate step that copies the last
whole run's table into docs/performance.md (between its bench markers), measuring nothing. Clips are
generated once and cached in bench/out/.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from clips import ALL_CLIPS, OUT_DIR, QUICK_CLIPS, ensure_clip  # noqa: E402
from methods import DEFAULT_COMFYUI_DIR, run_worker  # noqa: E402

METHODS = ("ours", "core", "vhs", "floor")
TARGET_CLIP = "1080p10s"
TARGETS = {  # on the 1080p 10 s clip
    "ours/core fps": (">=", 2.0),
    "ours/vhs fps": (">=", 1.5),
    "ours peak/tensor": ("<=", 1.1),
    "ours/floor time": ("<=", 1.25),
}
IMPORTS = ("nodes.luma.constants", "nodes.media.video_decode")
PERFORMANCE_DOC = REPO / "docs" / "performance.md"  # the table lives there, between these markers
TABLE_START, TABLE_END = "<!-- bench:start -->", "<!-- bench:end -->"
TABLE_FILE = OUT_DIR / "performance_table.md"

# What ComfyUI does with the pack at start-up, timed inside an interpreter that already holds what
# ComfyUI itself loads first (torch, comfy_api, the server module, pydantic): load the package, call its
# entrypoint, list the nodes and build each node's definition for /object_info.
PACK_LOAD = r"""
import asyncio, importlib.util, os, sys, time
comfy = os.environ.get("COMFYUI_DIR") or {comfy_default!r}
sys.path.insert(0, comfy); os.chdir(comfy); sys.argv = [sys.argv[0], "--cpu"]
import comfy.options; comfy.options.enable_args_parsing()  # as main.py does, so --cpu is read
import utils.extra_config  # main.py imports this first; later imports rely on it
import comfy.cli_args, comfy_api.latest, server, nodes, folder_paths  # ComfyUI's own start-up
from pydantic import BaseModel, Field  # ComfyUI's own API nodes load these, before custom nodes (nodes.init_extra_nodes)
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("comfyui_luma_fal", {init!r}, submodule_search_locations=[{repo!r}])
module = importlib.util.module_from_spec(spec); sys.modules[spec.name] = module; spec.loader.exec_module(module)
async def load():
    extension = await module.comfy_entrypoint()
    return await extension.get_node_list()
node_list = asyncio.run(load())
for node in node_list:
    node.GET_NODE_INFO_V1()
print(time.perf_counter() - started, len(node_list))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="540p and 720p 5 s clips only (smoke run)")
    parser.add_argument("--clips", help="comma-separated, from: " + ", ".join(ALL_CLIPS))
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ", ".join(METHODS))
    parser.add_argument("--runs", type=int, default=0, help="runs per method (default 3; 1 for 1080p clips)")
    parser.add_argument("--refresh-docs", "--refresh-readme", dest="refresh_docs", action="store_true",
                        help="measure nothing: copy the last whole run's bench/out/performance_table.md into "
                             "docs/performance.md (between its bench markers)")
    parser.add_argument("--done-to-frames", action="store_true",
                        help="only fal COMPLETED -> frames in a real ComfyUI on throttled links (bench/stream.py), "
                             "streaming on and off")
    parser.add_argument("--run-to-submitted", action="store_true",
                        help="only Run -> submit reaching fal in a real ComfyUI on a throttled storage uplink "
                             "(bench/submit.py): video-to-video from frames, 64 keyframes, text-to-video")
    parser.add_argument("--cases", help="for --run-to-submitted: comma-separated, from v2v, keyframes, t2v")
    parser.add_argument("--links", help="for --run-to-submitted: comma-separated, from 20, 50, unthrottled")
    parser.add_argument("--comfy-host", default="0.3.75", help="for --run-to-submitted: the ComfyUI test host")
    parser.add_argument("--no-trade-off", action="store_true",
                        help="for --run-to-submitted: skip the x264 speed/size/quality table (four more encodes)")
    parser.add_argument("--fanout", action="store_true",
                        help="only the fan-out scenario (bench/fanout.py): 8 takes in one node vs a batch of 8")
    parser.add_argument("--journal", action="store_true",
                        help="only the journal bench (bench/journal.py): state change and budget check, SQLite vs "
                             "PostgreSQL, at --sizes journaled requests")
    parser.add_argument("--sizes", default="10000,100000", help="journal sizes for --journal (comma-separated)")
    parser.add_argument("--samples", type=int, default=300, help="timed operations per kind for --journal")
    args = parser.parse_args()
    if args.refresh_docs:
        return refresh_docs()
    # A scenario's module is loaded only when it is asked for: it brings the pack's journal or the test
    # harness, which the decode bench (and tests/test_docs_pages.py, loading this file) has no use for.
    if args.journal:
        from journal import run_journal_bench

        return run_journal_bench(Report().line, [int(n) for n in args.sizes.split(",")], args.samples)
    if args.done_to_frames:
        from stream import run_done_to_frames

        run_done_to_frames(Report().line, args.runs, args.clips.split(",") if args.clips else None)
        return 0
    if args.run_to_submitted:
        from submit import run_run_to_submitted

        run_run_to_submitted(Report().line, args.runs, args.cases.split(",") if args.cases else None,
                             args.links.split(",") if args.links else None, not args.no_trade_off,
                             args.comfy_host)
        return 0
    if args.fanout:
        from fanout import run_fanout

        run_fanout(Report().line)
        return 0

    names = args.clips.split(",") if args.clips else list(QUICK_CLIPS if args.quick else ALL_CLIPS)
    unknown = [name for name in names if name not in ALL_CLIPS]
    if unknown:
        parser.error(f"unknown clip(s) {unknown}; choose from {', '.join(ALL_CLIPS)}")
    methods = args.methods.split(",")

    report = Report()
    for name in names:
        spec = ALL_CLIPS[name]
        report.line(f"clip {name}", f"{spec.width}x{spec.height}, {spec.frames} frames, 24 fps, H.264")
        path = ensure_clip(spec)
        runs = args.runs or (1 if spec.height >= 1080 else 3)
        results = {method: decode_runs(method, path, runs) for method in methods}
        report.clip(name, results)
    for size in ("1080p", "4k"):
        report.encode(run_worker(["encode", size]))
    report.imports(import_times())
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "results.md").write_text(report.markdown(), encoding="utf-8")
    report.line("results table", str((OUT_DIR / "results.md").relative_to(REPO)))
    if set(names) == set(ALL_CLIPS) and set(methods) == set(METHODS):
        TABLE_FILE.write_text(report.summary(), encoding="utf-8")
        report.line("performance table (copy it into docs/performance.md with --refresh-docs)",
                    str(TABLE_FILE.relative_to(REPO)))
    else:  # the published table is always a whole run: every clip, every method
        report.line("performance table", "not written (a partial run: --clips, --quick or --methods)")
    return 0


def refresh_docs() -> int:
    if not TABLE_FILE.is_file():
        print(f"no {TABLE_FILE.relative_to(REPO)}: run a whole `make bench` first", file=sys.stderr)
        return 1
    if not write_performance_table(TABLE_FILE.read_text(encoding="utf-8").strip()):
        print(f"{PERFORMANCE_DOC.relative_to(REPO)} has no {TABLE_START} ... {TABLE_END} markers", file=sys.stderr)
        return 1
    print(f"{PERFORMANCE_DOC.relative_to(REPO)} table: replaced with", TABLE_FILE.relative_to(REPO))
    return 0


def decode_runs(method: str, path: Path, runs: int) -> dict:
    records = [run_worker([method, str(path)]) for _ in range(runs)]
    failed = [r for r in records if "error" in r or "skipped" in r]
    if failed:
        return failed[0]
    median = statistics.median(r["seconds"] for r in records)
    record = dict(min(records, key=lambda r: abs(r["seconds"] - median)))
    record["seconds"] = median
    record["best_seconds"] = min(r["seconds"] for r in records)
    record["cpu_seconds"] = statistics.median(r["cpu_seconds"] for r in records)
    record["peak_bytes"] = max(r["peak_bytes"] for r in records)
    record["runs"] = runs
    return record


def import_times(repeats: int = 5) -> dict[str, float | str]:
    def timed(code: str) -> float | str:
        samples = []
        for _ in range(repeats):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
            samples.append(time.perf_counter() - started)
            if done.returncode != 0:
                return "fails: " + (done.stderr.strip().splitlines() or ["?"])[-1]
        return statistics.median(samples)

    baseline = timed("pass")
    times: dict[str, float | str] = {"baseline (python -c pass)": baseline}
    load, nodes = pack_load_seconds(repeats)
    times[f"pack load in ComfyUI (entrypoint + {nodes} node definitions)"] = load
    for module in IMPORTS:
        if not (REPO / (module.replace(".", "/") + ".py")).exists() and not (REPO / module.replace(".", "/")).is_dir():
            times[module] = "not present"
            continue
        measured = timed(f"import {module}")
        times[module] = measured - baseline if isinstance(measured, float) else measured
    return times


def pack_load_seconds(repeats: int) -> tuple[float | str, int]:
    """Median time ComfyUI spends loading the pack, measured inside the interpreter (see PACK_LOAD), and
    how many nodes it defined."""
    code = PACK_LOAD.format(comfy_default=DEFAULT_COMFYUI_DIR, init=str(REPO / "__init__.py"), repo=str(REPO))
    samples = []
    nodes = 0
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        last = (done.stdout.strip().splitlines() or [""])[-1].split()
        if done.returncode != 0 or len(last) != 2:
            return "fails: " + (done.stderr.strip().splitlines() or ["?"])[-1], 0
        samples.append(float(last[0]))
        nodes = int(last[1])
    return statistics.median(samples), nodes


def write_performance_table(table: str, doc: Path = PERFORMANCE_DOC) -> bool:
    """Replace the table between the bench markers of doc (docs/performance.md); False when it has none."""
    text = doc.read_text(encoding="utf-8")
    if TABLE_START not in text or TABLE_END not in text:
        return False
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    doc.write_text(f"{head}{TABLE_START}\n{table}\n{TABLE_END}{tail}", encoding="utf-8")
    return True


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, dict]] = []
        self.ratio_rows: list[tuple[str, str, float]] = []
        self.encode_rows: list[dict] = []
        self.import_rows: dict[str, float | str] = {}
        self.target_rows: list[tuple[str, float, str, float, bool]] = []

    @staticmethod
    def line(name: str, value: str) -> None:
        print(f"{name}: {value}", flush=True)

    def clip(self, clip: str, results: dict[str, dict]) -> None:
        for method, record in results.items():
            if "skipped" in record or "error" in record:
                self.line(f"{clip} {method}", "skipped: " + record.get("skipped", record.get("error", "")))
                self.rows.append((clip, method, record))
                continue
            label = record["method"]
            fps = record["frames"] / record["seconds"]
            record["fps"] = fps
            self.line(f"{clip} {label} seconds", f"{record['seconds']:.2f} (median of {record['runs']}, "
                      f"best {record['best_seconds']:.2f})")
            self.line(f"{clip} {label} fps", f"{fps:.1f}")
            self.line(f"{clip} {label} cpu seconds", f"{record['cpu_seconds']:.2f} (user+sys, all threads and children)")
            if "tensor_bytes" in record:
                record["peak_x"] = record["peak_bytes"] / record["tensor_bytes"]
                self.line(f"{clip} {label} peak/tensor", f"{record['peak_x']:.3f}x "
                          f"(peak {record['peak_bytes'] / 2**30:.2f} GiB, tensor {record['tensor_bytes'] / 2**30:.2f} GiB)")
            else:
                self.line(f"{clip} {label} peak", f"{record['peak_bytes'] / 2**20:.0f} MiB (no tensor)")
            if record.get("child_peak_bytes"):
                self.line(f"{clip} {label} subprocess peak", f"{record['child_peak_bytes'] / 2**20:.0f} MiB (ffmpeg)")
            self.rows.append((clip, label, record))
        ours = results.get("ours", {})
        if "fps" not in ours:
            return
        ratios: dict[str, float] = {}
        for other in ("core", "vhs"):
            if "fps" in results.get(other, {}):
                ratios[f"ours/{other} fps"] = ours["fps"] / results[other]["fps"]
                self.line(f"{clip} ratio ours/{results[other]['method']} fps", f"{ratios[f'ours/{other} fps']:.2f}x")
        if "seconds" in results.get("floor", {}):
            ratios["ours/floor time"] = ours["seconds"] / results["floor"]["seconds"]
            self.line(f"{clip} ratio ours/floor time", f"{ratios['ours/floor time']:.2f}x")
        ratios["ours peak/tensor"] = ours["peak_x"]
        for name, value in ratios.items():
            self.ratio_rows.append((clip, name, value))
        if clip == TARGET_CLIP:
            for name, (op, target) in TARGETS.items():
                if name in ratios:
                    met = ratios[name] >= target if op == ">=" else ratios[name] <= target
                    self.target_rows.append((name, ratios[name], op, target, met))
                    self.line(f"target {name} {op} {target}", f"{ratios[name]:.2f} {'MET' if met else 'NOT MET'}")

    def encode(self, record: dict) -> None:
        if "error" in record:
            self.line("encode", "failed: " + record["error"])
            return
        size = record["size"]
        self.line(f"encode {size} chosen", f"{record['chosen']} {record['chosen_seconds'] * 1000:.0f} ms, "
                  f"{record['chosen_bytes'] / 2**20:.2f} MiB")
        self.line(f"encode {size} png default (level 6)", f"{record['png_default_seconds'] * 1000:.0f} ms, "
                  f"{record['png_default_bytes'] / 2**20:.2f} MiB")
        self.line(f"encode {size} ratio png_default/chosen time",
                  f"{record['png_default_seconds'] / record['chosen_seconds']:.1f}x")
        self.encode_rows.append(record)

    def imports(self, times: dict[str, float | str]) -> None:
        for module, value in times.items():
            shown = f"{value * 1000:.0f} ms" if isinstance(value, float) else value
            # The pack load is timed inside ComfyUI's interpreter; plain imports as a process above the baseline.
            label = module if module.startswith(("baseline", "pack load")) else f"{module} (above baseline)"
            self.line(f"import {label}", shown)
        self.import_rows = times

    def summary(self) -> str:
        """docs/performance.md's table: decode per clip, targets, encode and start-up cost."""
        by_clip: dict[str, dict[str, dict]] = {}
        for clip, label, record in self.rows:
            by_clip.setdefault(clip, {})[label.split("_")[0]] = record
        ratios = {(clip, name): value for clip, name, value in self.ratio_rows}

        def cell(record: dict | None) -> str:
            if not record or "fps" not in record:
                return "skipped"
            peak = f" ({record['peak_x']:.2f}x)" if "peak_x" in record else ""
            return f"{record['fps']:.0f}{peak}"

        out = [f"Measured by `make bench` on {os.cpu_count()} CPU cores, {time.strftime('%Y-%m-%d')}. Decode of an "
               "H.264 MP4 into a float32 IMAGE: frames per second (peak memory as a multiple of the final tensor).", "",
               "| clip | this pack | ComfyUI core `get_components()` | VHS-style loader | decode-only floor "
               "| vs core | vs VHS | time vs floor |", "|---|---|---|---|---|---|---|---|"]
        for clip, methods in by_clip.items():
            floor = methods.get("floor", {})
            cells = [clip, cell(methods.get("ours")), cell(methods.get("core")), cell(methods.get("vhs")),
                     f"{floor['fps']:.0f}" if "fps" in floor else "skipped"]
            cells += [f"{ratios[(clip, n)]:.2f}x" if (clip, n) in ratios else "-"
                      for n in ("ours/core fps", "ours/vhs fps", "ours/floor time")]
            out.append("| " + " | ".join(cells) + " |")
        if self.target_rows:
            out += ["", f"Targets on the {TARGET_CLIP} clip: " + "; ".join(
                f"{name} {op} {target}: {value:.2f} ({'met' if met else 'NOT met'})"
                for name, value, op, target, met in self.target_rows) + "."]
        for record in self.encode_rows:
            out.append(f"\nReference encode, {record['size']} frame: {record['chosen']} "
                       f"{record['chosen_seconds'] * 1000:.0f} ms ({record['chosen_bytes'] / 2**20:.2f} MiB) vs Pillow's "
                       f"default PNG {record['png_default_seconds'] * 1000:.0f} ms "
                       f"({record['png_default_bytes'] / 2**20:.2f} MiB).")
        load = next((v for k, v in self.import_rows.items() if k.startswith("pack load")), None)
        if isinstance(load, float):
            out.append(f"\nPack load at ComfyUI start (entrypoint + all node definitions): {load * 1000:.0f} ms.")
        return "\n".join(out)

    def markdown(self) -> str:
        out = ["# Media benchmarks", "",
               "Generated by `python bench/run.py`. Each method ran in its own process; peak = resident memory",
               "above the process's baseline, as a multiple of the final float32 tensor. Times are medians.", "",
               "| clip | method | seconds | frames/s | CPU seconds | peak / tensor |", "|---|---|---|---|---|---|"]
        for clip, method, record in self.rows:
            if "fps" not in record:
                out.append(f"| {clip} | {method} | skipped | | | {record.get('skipped', record.get('error', ''))} |")
                continue
            peak = f"{record['peak_x']:.2f}x" if "peak_x" in record else f"{record['peak_bytes'] / 2**20:.0f} MiB"
            out.append(f"| {clip} | {method} | {record['seconds']:.2f} | {record['fps']:.1f} | "
                       f"{record['cpu_seconds']:.2f} | {peak} |")
        out += ["", "| clip | ratio | value |", "|---|---|---|"]
        out += [f"| {clip} | {name} | {value:.2f}x |" for clip, name, value in self.ratio_rows]
        if self.target_rows:
            out += ["", f"Targets on {TARGET_CLIP}:", "", "| target | value | met |", "|---|---|---|"]
            out += [f"| {name} {op} {target} | {value:.2f} | {'yes' if met else 'no'} |"
                    for name, value, op, target, met in self.target_rows]
        if self.encode_rows:
            out += ["", "Reference image encode (photo-like frame):", "",
                    "| size | ours: format | ours: ms | ours: MiB | PNG level 6: ms | PNG level 6: MiB |",
                    "|---|---|---|---|---|---|"]
            out += [f"| {r['size']} | {r['chosen']} | {r['chosen_seconds'] * 1000:.0f} | "
                    f"{r['chosen_bytes'] / 2**20:.2f} | {r['png_default_seconds'] * 1000:.0f} | "
                    f"{r['png_default_bytes'] / 2**20:.2f} |" for r in self.encode_rows]
        if self.import_rows:
            out += ["", "Import time (fresh interpreter, median of 5, above `python -c pass`):", "",
                    "| module | time |", "|---|---|"]
            for module, value in self.import_rows.items():
                out.append(f"| {module} | {f'{value * 1000:.0f} ms' if isinstance(value, float) else value} |")
        return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
