#!/usr/bin/env python3
"""The report of experiments/glyphs.sh (standard library only; the plots are drawn in C with
cairo by libmetrix's mx_plot_paired, called through ctypes).

  results.py --choose TUNE_DIR LOSS      prints "none LR" and "metrix LR W": the tuning choice
                                         (best validation R@1 of the run's best epoch)
  results.py --report OUT [--command C]  writes docs/results.md, docs/results_*_paired.png and
                                         the README's results block from OUT/{tune,final,fmnist}

docs/results.md is generated: never edit it by hand."""
import csv
import ctypes
import glob
import json
import math
import os
import re
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIXES = ["none", "input", "feature", "embed"]
MIX_NAME = {"none": "baseline", "input": "Metrix/input", "feature": "Metrix/feature",
            "embed": "Metrix/embed"}
LOSSES = ["contrastive", "ms", "proxy-anchor"]
# two-sided 95% Student t quantiles, df = 1..30
T975 = [math.nan, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201,
        2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df):
    return math.nan if df < 1 else T975[df] if df <= 30 else 1.96


def log_rows(run):
    with open(os.path.join(run, "log.csv")) as f:
        return list(csv.DictReader(f))


def best_val_r1(run):
    vals = [float(r["val_r1"]) for r in log_rows(run) if r["val_r1"] not in ("", "nan")]
    return max(vals) if vals else math.nan


def read_run(run):
    with open(os.path.join(run, "report.json")) as f:
        rep = json.load(f)
    rec = rep.get("recall", {})
    secs = [float(r["seconds"]) for r in log_rows(run)]
    util_mixed = None
    txt = os.path.join(run, "report.txt")
    if os.path.exists(txt):
        for line in open(txt):
            m = re.match(r"utilization \(train clean \+ \d+ mixed embeddings\): ([0-9.]+)", line)
            if m:
                util_mixed = float(m.group(1))
    wall = None
    if os.path.exists(run + ".wall"):
        wall = sum(float(x) for x in open(run + ".wall").read().split())
    return {"r1": rec.get("1"), "r10": rec.get("10"), "map_r": rep.get("map_at_r"),
            "util": rep.get("utilization"), "util_mixed": util_mixed,
            "sec": statistics.mean(secs) if secs else math.nan, "wall": wall,
            "n_classes": rep.get("n_classes"), "n_query": rep.get("n_query")}


def choose(tune, loss):
    """Best validation R@1 per side; ties go to the smaller learning rate (listed first)."""
    base, metrix = [], []
    for run in sorted(glob.glob(os.path.join(tune, loss + "-*"))):
        if not os.path.isdir(run) or not os.path.exists(os.path.join(run, "report.json")):
            continue
        name = os.path.basename(run)[len(loss) + 1:]
        m = re.match(r"none-lr([0-9.e+-]+)$", name)
        if m:
            base.append((best_val_r1(run), -float(m.group(1)), m.group(1)))
        m = re.match(r"feature-lr([0-9.e+-]+)-w([0-9.]+)$", name)
        if m:
            metrix.append((best_val_r1(run), -float(m.group(1)), m.group(1), m.group(2)))
    if not base or not metrix:
        sys.exit("results.py --choose: no finished tuning runs for %s in %s" % (loss, tune))
    b, mx = max(base), max(metrix)
    print("none %s" % b[2])
    print("metrix %s %s" % (mx[2], mx[3]))


def fmt(vals, scale=100.0, digits=2):
    v = [x * scale for x in vals if x is not None and not math.isnan(x)]
    if not v:
        return "–"
    if len(v) == 1:
        return "%.*f" % (digits, v[0])
    return "%.*f ± %.*f" % (digits, statistics.mean(v), digits, statistics.stdev(v))


def paired(cells, loss, mix, key="r1"):
    """Per-seed differences (pp) Metrix - baseline over the seeds both have."""
    b = {s: r[key] for s, r in cells.get((loss, "none"), {}).items()}
    m = {s: r[key] for s, r in cells.get((loss, mix), {}).items()}
    return [(s, 100 * (m[s] - b[s])) for s in sorted(set(b) & set(m))
            if b[s] is not None and m[s] is not None]


def ci(diffs):
    v = [d for _, d in diffs]
    if len(v) < 2:
        return (statistics.mean(v) if v else math.nan), math.nan, math.nan
    mean = statistics.mean(v)
    half = t975(len(v) - 1) * statistics.stdev(v) / math.sqrt(len(v))
    return mean, mean - half, mean + half


def collect(d):
    cells = {}
    for rep in sorted(glob.glob(os.path.join(d, "*", "report.json"))):
        run = os.path.dirname(rep)
        m = re.match(r"(.+)-(none|input|feature|embed)-s(\d+)$", os.path.basename(run))
        if m:
            cells.setdefault((m.group(1), m.group(2)), {})[int(m.group(3))] = read_run(run)
    return cells


def verdict(mean, lo, hi):
    if math.isnan(lo):
        return "too few seeds for an interval"
    if lo > 0:
        return "**better** than its baseline"
    if hi < 0:
        return "**worse** than its baseline"
    return "not distinguishable from its baseline (the interval contains 0)"


def plot(path, title, groups):
    """groups: [(name, [values])] -> mx_plot_paired (cairo) through libmetrix.so."""
    lib = None
    for cand in [os.environ.get("METRIX_LIB", ""), os.path.join(ROOT, "build", "libmetrix.so")]:
        if cand and os.path.exists(cand):
            lib = ctypes.CDLL(cand)
            break
    if not groups:
        return False
    if lib is None:
        sys.exit("results.py: build/libmetrix.so not found (cmake --build build --target "
                 "metrix_shared), or set METRIX_LIB: the plots are drawn by mx_plot_paired")
    n = len(groups)
    names = (ctypes.c_char_p * n)(*[g[0].encode() for g in groups])
    counts = (ctypes.c_int * n)(*[len(g[1]) for g in groups])
    flat = [v for g in groups for v in g[1]]
    vals = (ctypes.c_double * max(len(flat), 1))(*flat)
    lib.mx_plot_paired.restype = ctypes.c_int
    lib.mx_errmsg.restype = ctypes.c_char_p
    st = lib.mx_plot_paired(path.encode(), title.encode(),
                            b"Metrix - baseline, R@1 (percentage points)", n, names, counts, vals)
    if st != 0:
        sys.exit("mx_plot_paired: %s" % lib.mx_errmsg().decode())
    return True


def table(out, cells, title, r10):
    out.append("| loss | mixing | seeds | R@1 |%s MAP@R | utilization | u+mixed | s/epoch | run (s) |"
               % (" R@10 |" if r10 else ""))
    out.append("|---|---|---|---|%s---|---|---|---|---|" % ("---|" if r10 else ""))
    for loss in LOSSES:
        for mix in MIXES:
            c = cells.get((loss, mix))
            if not c:
                continue
            rs = list(c.values())
            walls = [r["wall"] for r in rs if r["wall"] is not None]
            out.append("| %s | %s | %d | %s |%s %s | %s | %s | %s | %s |" % (
                loss, MIX_NAME[mix], len(rs), fmt([r["r1"] for r in rs]),
                (" %s |" % fmt([r["r10"] for r in rs])) if r10 else "",
                fmt([r["map_r"] for r in rs]), fmt([r["util"] for r in rs], 1, 4),
                fmt([r["util_mixed"] for r in rs], 1, 4) if mix != "none" else "–",
                fmt([r["sec"] for r in rs], 1, 1),
                ("%.0f" % statistics.mean(walls)) if walls else "–"))


DOCS = [os.path.join(ROOT, "docs")]


def diff_section(out, cells, name, png, bench_title):
    out.append("Paired differences Metrix − baseline on the same seeds (R@1, percentage points; "
               "mean, 95%% t interval over seeds; per-seed values in `%s`):" % png)
    out.append("")
    out.append("| loss | mixing | seeds | per-seed differences | mean | 95% CI | verdict |")
    out.append("|---|---|---|---|---|---|---|")
    groups, verdicts = [], []
    for loss in LOSSES:
        for mix in ["feature", "input", "embed"]:
            d = paired(cells, loss, mix)
            if not d:
                continue
            mean, lo, hi = ci(d)
            v = verdict(mean, lo, hi)
            verdicts.append((loss, mix, mean, lo, hi, v))
            out.append("| %s | %s | %d | %s | %+.2f | %s | %s |" % (
                loss, MIX_NAME[mix], len(d), ", ".join("%+.2f" % x for _, x in d), mean,
                "[%+.2f, %+.2f]" % (lo, hi) if not math.isnan(lo) else "–", v))
            groups.append(("%s %s" % (loss, MIX_NAME[mix]), [x for _, x in d]))
    out.append("")
    if groups and plot(os.path.join(DOCS[0], png), bench_title, groups):
        out.append("![per-seed paired differences, %s](%s)" % (name, png))
        out.append("")
    return verdicts


def headline(bench, verdicts):
    """One plain sentence per benchmark: how many comparisons Metrix won, lost, tied."""
    if not verdicts:
        return "- **%s**: no finished paired runs yet." % bench

    def which(tag):
        return ["%s + %s (%+.2f pp)" % (l, MIX_NAME[m], mean)
                for l, m, mean, _, _, v in verdicts if tag in v]
    better, worse = which("better"), which("worse")
    means = [x[2] for x in verdicts]
    return ("- **%s: Metrix beat its baseline in %d of %d comparisons%s, was worse in %d%s, and "
            "was not distinguishable in the other %d** (mean paired R@1 differences from %+.2f to "
            "%+.2f pp)." % (bench, len(better), len(verdicts),
                            " (" + "; ".join(better) + ")" if better else "", len(worse),
                            " (" + "; ".join(worse) + ")" if worse else "",
                            len(verdicts) - len(better) - len(worse), min(means), max(means)))


def summary_lines(bench, verdicts):
    if not verdicts:
        return ["- %s: no finished paired runs yet." % bench]
    lines = []
    for loss, mix, mean, lo, hi, v in verdicts:
        ci_txt = "[%+.2f, %+.2f]" % (lo, hi) if not math.isnan(lo) else "no interval"
        lines.append("- %s, %s + %s: %+.2f pp R@1 (95%% CI %s): %s." % (
            bench, loss, MIX_NAME[mix], mean, ci_txt, v.replace("**", "")))
    return lines


def report(root, command):
    docs = os.environ.get("MX_RESULTS_DIR") or os.path.join(ROOT, "docs")
    DOCS[0] = docs
    out = ["# Results: does Metrix beat its baseline?", "",
           "Generated by `experiments/glyphs.sh` (`experiments/results.py`); do not edit by hand. "
           "The protocol was fixed before the test runs: `experiments/PROTOCOL.md`.", ""]
    if command:
        out += ["Command: `%s`" % command.strip(), ""]
    note = os.path.join(root, "NOTE.md")  # how the runs were scheduled, written by whoever ran them
    if os.path.exists(note):
        out += [open(note).read().strip(), ""]
    out += ["A sweep of Metrix's knobs on Fashion-MNIST (exploratory, not pre-registered) is in "
            "docs/investigation.md.", ""]
    g = collect(os.path.join(root, "final"))
    f = collect(os.path.join(root, "fmnist"))
    gv = fv = []
    summary = []
    out += ["## Glyphs (many classes, few instances)", ""]
    cfgs = glob.glob(os.path.join(root, "final", "*", "config.json"))
    if cfgs:
        with open(sorted(cfgs)[0]) as fh:
            c = json.load(fh)
        out.append("Shared settings: backbone=%s, embed_dim=%s, epochs=%s × %s steps, batch=%s, "
                   "sampler=%s (m=%s), optimizer=%s, schedule=%s (step %s, gamma %s), "
                   "val_fraction=%s, mix_negatives=%s (k=%s), mix_alpha=%s." % (
                       c["backbone"], c["embed_dim"], c["epochs"], c["max_steps_per_epoch"],
                       c["batch"], c["sampler"], c["samples_per_class"], c["optimizer"],
                       c["schedule"], c["lr_step"], c["lr_gamma"], c["val_fraction"],
                       c["mix_negatives"], c["mix_k"], c["mix_alpha"]))
        out.append("")
    ch = sorted(glob.glob(os.path.join(root, "tune", "chosen-*.txt")))
    if ch:
        out += ["Tuning on the validation classes (seed 100; best validation R@1):", "",
                "| loss | baseline lr | Metrix/feature lr, w |", "|---|---|---|"]
        for p in ch:
            loss = os.path.basename(p)[7:-4]
            d = dict((l.split()[0], l.split()[1:]) for l in open(p) if l.strip())
            out.append("| %s | %s | %s, %s |" % (loss, d["none"][0], d["metrix"][0], d["metrix"][1]))
        out.append("")
        out += ["| tuning run | best validation R@1 |", "|---|---|"]
        for run in sorted(glob.glob(os.path.join(root, "tune", "*"))):
            if os.path.isdir(run) and os.path.exists(os.path.join(run, "report.json")):
                out.append("| %s | %.2f |" % (os.path.basename(run), 100 * best_val_r1(run)))
        out.append("")
    if g:
        any_run = next(iter(next(iter(g.values())).values()))
        out.append("Test split: %s classes, %s images (leave-one-out). R@1, R@10, MAP@R in %%; "
                   "utilization u(test, train) on L2-normalised embeddings, u+mixed with the last "
                   "epoch's mixed embeddings added to the training set; s/epoch and run (s) are "
                   "wall-clock seconds on this 2-core machine." % (any_run["n_classes"],
                                                                    any_run["n_query"]))
        out.append("")
        table(out, g, "glyphs", True)
        out.append("")
        gv = diff_section(out, g, "glyphs", "results_glyphs_paired.png", "glyphs: Metrix - baseline")
    else:
        out += ["No finished glyphs runs yet.", ""]
    out += ["## Fashion-MNIST (5 training classes, 5 test classes)", "",
            "`metrix train` defaults (smallcnn, MS-style settings of config.c, mix_negatives=random "
            "k=5) with --epochs 3 --max_steps_per_epoch 60 --threads 1; train on classes 0–4, "
            "test on 5–9 (5,000 images, leave-one-out).", ""]
    if f:
        table(out, f, "fmnist", False)
        out.append("")
        fv = diff_section(out, f, "Fashion-MNIST", "results_fmnist_paired.png",
                          "Fashion-MNIST: Metrix - baseline")
    else:
        out += ["No finished Fashion-MNIST runs yet.", ""]
    heads = [headline("glyphs", gv), headline("Fashion-MNIST", fv)]
    summary = heads + [""] + summary_lines("glyphs", gv) + summary_lines("Fashion-MNIST", fv)
    at = out.index("## Glyphs (many classes, few instances)")
    out[at:at] = ["## Verdict", ""] + summary + [""]
    with open(os.path.join(docs, "results.md.tmp"), "w") as fh:
        fh.write("\n".join(out) + "\n")
    os.replace(os.path.join(docs, "results.md.tmp"), os.path.join(docs, "results.md"))
    if os.environ.get("MX_RESULTS_DIR"):
        return
    # the README's block between the markers
    readme = os.path.join(ROOT, "README.md")
    text = open(readme).read()
    a, b = "<!-- results:begin -->", "<!-- results:end -->"
    if a in text and b in text:
        block = a + "\n" + "\n".join(heads) + "\n\n(generated by experiments/results.py; each " \
                "comparison with its interval in docs/results.md)\n" + b
        text = text[:text.index(a)] + block + text[text.index(b) + len(b):]
        with open(readme + ".tmp", "w") as fh:
            fh.write(text)
        os.replace(readme + ".tmp", readme)


def main(argv):
    if len(argv) == 4 and argv[1] == "--choose":
        choose(argv[2], argv[3])
    elif len(argv) >= 3 and argv[1] == "--report":
        command = argv[4] if len(argv) >= 5 and argv[3] == "--command" else ""
        report(argv[2], command)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
