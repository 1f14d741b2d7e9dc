#!/usr/bin/env bash
# End-to-end checks of the "front door" commands on generated fixture images: retrievals.png of
# a training run, eval --retrievals (run, and .npy with --images), embed --images (folder, list,
# unreadable files), search (folder gallery, saved embeddings, JSON, picture) and their errors.
# Usage: cli_front_test.sh BUILD_DIR. Exit 77 (skipped) without Fashion-MNIST or python3-pil.
set -u
bin="$1/metrix"
py=/usr/bin/python3
src=$(cd "$(dirname "$0")" && pwd)
work="$1/cli_front_test"
rm -rf "$work" && mkdir -p "$work"
"$py" "$src/py/make_user_images.py" "$work" || exit $? # 77: skip
# shellcheck source=tests/lib.sh
. "$src/lib.sh"
pycheck() { # pycheck DESCRIPTION PYTHON_CODE (exits non-zero on failure)
    check "$1" 0 "$py" -c "import sys, json, numpy as np; w = '$work'; $2"
}

run="$work/run"
check "short training run" 0 "$bin" train --epochs 1 --max_steps_per_epoch 5 --batch 64 \
    --threads 2 --quiet --output "$run"
pycheck "the run wrote retrievals.png (8 queries x 8 neighbours)" "
from PIL import Image; im = Image.open(w + '/run/retrievals.png'); W, H = im.size
assert W > 9 * 96 and W < 9 * 130 and H > 8 * 96 and H < 60 + 8 * 150, im.size"

# ---- eval --retrievals ----------------------------------------------------------------------
check "eval --run --retrievals" 0 "$bin" eval --run "$run" --retrievals "$work/r.png" \
    --queries 3 --k 4
pycheck "3 x 4 picture" "
from PIL import Image; W, H = Image.open(w + '/r.png').size
assert W > 5 * 96 and W < 5 * 130 and H > 3 * 96 and H < 60 + 3 * 150, (W, H)"
check "eval --run: the same queries as the run's picture" 0 "$bin" eval --run "$run" \
    --retrievals "$work/r8.png"
check "... identical file" 0 cmp "$run/retrievals.png" "$work/r8.png"
check "eval --run --k 0" 2 "$bin" eval --run "$run" --retrievals "$work/x.png" --k 0
check "eval .npy --retrievals --images" 0 "$bin" eval --embeddings "$work/pics_emb.npy" \
    --labels "$work/pics_labels.npy" --retrievals "$work/n.png" --images "$work/pics.npy" \
    --queries 4 --neighbours 5
check "... a PNG" 0 test -s "$work/n.png"
check "eval query/gallery .npy --retrievals" 0 "$bin" eval \
    --query-embeddings "$work/q_emb.npy" --query-labels "$work/q_labels.npy" \
    --gallery-embeddings "$work/g_emb.npy" --gallery-labels "$work/g_labels.npy" \
    --retrievals "$work/qg.png" --query-images "$work/q_pics.npy" \
    --gallery-images "$work/g_pics.npy"
check "... a PNG" 0 test -s "$work/qg.png"
check "eval query/gallery --retrievals with --images" 2 "$bin" eval \
    --query-embeddings "$work/q_emb.npy" --query-labels "$work/q_labels.npy" \
    --gallery-embeddings "$work/g_emb.npy" --gallery-labels "$work/g_labels.npy" \
    --retrievals "$work/x.png" --images "$work/q_pics.npy"
expect_err "eval query/gallery --retrievals with --images" "--query-images Q.npy and"
check "eval .npy --retrievals without images" 2 "$bin" eval --embeddings "$work/pics_emb.npy" \
    --labels "$work/pics_labels.npy" --retrievals "$work/x.png"
expect_err "eval .npy --retrievals without images" "needs the pictures of the embeddings"
check "eval --images of another count" 1 "$bin" eval --embeddings "$work/pics_emb.npy" \
    --labels "$work/pics_labels.npy" --retrievals "$work/x.png" --images "$work/pics_emb.npy"
expect_err "eval --images of another dtype" "expected uint8 images"
check "no picture left behind on failure" 1 test -e "$work/x.png"

# ---- embed --images -------------------------------------------------------------------------
check "embed --images FOLDER" 0 "$bin" embed --run "$run" --images "$work/gallery" \
    --output "$work/E.npy" --paths-output "$work/P.txt"
check "embed --run --split test" 0 "$bin" embed --run "$run" --output "$work/T.npy" \
    --labels-output "$work/TL.npy"
# the run trained at batch 64; an opened run embeds in chunks of 32, on the threads asked for
check "embed --run --threads 1" 0 "$bin" embed --run "$run" --output "$work/T1.npy" \
    --labels-output "$work/TL1.npy" --threads 1
pycheck "1 thread, chunks of 32: the same embeddings" "
T, T1 = np.load(w + '/T.npy'), np.load(w + '/T1.npy')
assert T.shape == T1.shape and float(np.abs(T - T1).max()) < 1e-5, float(np.abs(T - T1).max())
assert (np.load(w + '/TL.npy') == np.load(w + '/TL1.npy')).all()"
check "embed --run --threads -2" 2 "$bin" embed --run "$run" --output "$work/T2.npy" \
    --labels-output "$work/TL2.npy" --threads -2
check "eval --run --threads 1" 0 "$bin" eval --run "$run" --threads 1 --json
pycheck "folder: 25 rows, sorted paths; 28x28 PNGs embed as the run's test split rows" "
E, T = np.load(w + '/E.npy'), np.load(w + '/T.npy'); P = open(w + '/P.txt').read().split()
assert E.shape == (25, T.shape[1]) and len(P) == 25 and P == sorted(P), (E.shape, len(P))
row = {l.split()[0]: int(l.split()[1]) for l in open(w + '/index.txt')}
for i, p in enumerate(P):
    if p.endswith('.png'):
        rel = p[len(w) + 1:]
        err = float(np.abs(E[i] - T[row[rel]]).max())
        assert err < 1e-4, (p, err)
assert np.allclose(np.linalg.norm(E, axis=1), 1, atol=1e-5)"
check "embed --images LIST.txt" 0 "$bin" embed --run "$run" --images "$work/list.txt" \
    --output "$work/EL.npy" --paths-output "$work/PL.txt"
pycheck "list: the same embeddings, in list order" "
E, EL = np.load(w + '/E.npy'), np.load(w + '/EL.npy')
P, PL = open(w + '/P.txt').read().split(), open(w + '/PL.txt').read().split()
assert sorted(PL) == P and np.abs(EL[[PL.index(p) for p in P]] - E).max() < 1e-6"
cp -r "$work/gallery" "$work/bad" && printf 'not a jpeg' >"$work/bad/sandal/broken.jpg"
check "embed: an unreadable image is fatal" 1 "$bin" embed --run "$run" --images "$work/bad" \
    --output "$work/EB.npy" --paths-output "$work/PB.txt"
expect_err "embed: unreadable image named" "bad/sandal/broken.jpg: not a JPEG or PNG"
check "... nothing written" 1 test -e "$work/EB.npy" -o -e "$work/PB.txt"
check "embed --skip-unreadable" 0 "$bin" embed --run "$run" --images "$work/bad" \
    --output "$work/EB.npy" --paths-output "$work/PB.txt" --skip-unreadable
expect_err "embed --skip-unreadable: reported" "broken.jpg.*skipped"
pycheck "... 25 rows without it" "
assert np.load(w + '/EB.npy').shape[0] == 25 and 'broken' not in open(w + '/PB.txt').read()"
mkdir -p "$work/empty"
check "embed: a folder without images" 1 "$bin" embed --run "$run" --images "$work/empty" \
    --output "$work/X.npy"
expect_err "embed: a folder without images" "no images"
check "embed --images without --output" 2 "$bin" embed --run "$run" --images "$work/gallery"
check "embed --images with --labels-output" 2 "$bin" embed --run "$run" --images "$work/gallery" \
    --output "$work/X.npy" --labels-output "$work/L.npy"

# ---- search ---------------------------------------------------------------------------------
q1="$work/gallery/bag/$(ls "$work/gallery/bag" | grep png | head -1)"
q2="$work/gallery/sandal/$(ls "$work/gallery/sandal" | grep jpg | head -1)"
check "search a folder gallery" 0 "$bin" search --run "$run" --gallery "$work/gallery" \
    --query "$q1" --query "$q2" --k 3 --json --picture "$work/s.png"
cp "$work/last" "$work/s_folder.json"
pycheck "search: each query finds itself first (similarity 1)" "
r = json.load(open(w + '/s_folder.json')); assert r['k'] == 3 and r['gallery'] == 25
for q in r['queries']:
    n = q['neighbours']; assert len(n) == 3 and n[0]['path'] == q['query'], q
    assert n[0]['similarity'] > 0.9999 and n[0]['similarity'] >= n[1]['similarity'] >= n[2]['similarity']"
check "search: the picture" 0 test -s "$work/s.png"
check "search saved embeddings" 0 "$bin" search --run "$run" --gallery "$work/E.npy" \
    --gallery-paths "$work/P.txt" --query "$q1" --query "$q2" --k 3 --json
check "... the same results as the folder" 0 "$py" -c "
import json, sys; a, b = (json.load(open(p)) for p in ('$work/s_folder.json', '$work/last'))
for x, y in zip(a['queries'], b['queries']):
    assert [n['path'] for n in x['neighbours']] == [n['path'] for n in y['neighbours']]
    assert all(abs(n['similarity'] - m['similarity']) < 1e-5 for n, m in zip(x['neighbours'], y['neighbours']))"
check "search --gallery E.npy+P.txt, text" 0 "$bin" search --run "$run" \
    --gallery "$work/E.npy+$work/P.txt" --query "$q1" --k 2
check "... text lists the query" 0 grep -q "query $q1" "$work/last"
check "search: no --query" 2 "$bin" search --run "$run" --gallery "$work/gallery"
check "search: a missing query image" 1 "$bin" search --run "$run" --gallery "$work/gallery" \
    --query "$work/nope.jpg"
expect_err "search: a missing query image" "nope.jpg"
check "search: E.npy without its paths" 1 "$bin" search --run "$run" --gallery "$work/E.npy" \
    --query "$q1"
expect_err "search: E.npy without its paths" "--gallery-paths"
check "search: paths of another count" 1 "$bin" search --run "$run" --gallery "$work/E.npy" \
    --gallery-paths "$work/index.txt" --query "$q1"
check "search --picture with k > 32" 2 "$bin" search --run "$run" --gallery "$work/gallery" \
    --query "$q1" --k 40 --picture "$work/x.png"
check "search: an unreadable gallery image is fatal" 1 "$bin" search --run "$run" \
    --gallery "$work/bad" --query "$q1"
check "search --skip-unreadable" 0 "$bin" search --run "$run" --gallery "$work/bad" \
    --query "$q1" --skip-unreadable

finish cli_front_test
