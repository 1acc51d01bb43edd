"""ComfyUI glue: the pack's nodes, their paid runs on fal, and the server side, in sub-packages.

One paid run, top to bottom: a node class (``node_types/``) collects its inputs into a ``run.job.FalJob``,
which refuses bad input before any network call (the catalogue, fal's live schema from
``money/fal_docs``, the key, the spend limits of ``money/check``) and plans its takes (``rules/takes``).
``run/decide`` then chooses, under the followers' lock, to reuse saved files, join a follower or a
request fal already has, or journal a new request; a follower (``run/followers``) submits it through
``run/fal_bridge`` (uploads, the fal runner, progress and Cancel on the node), records every step in
the journal (``host/journaling``) and saves the files (``run/saving``). ``outputs/`` turns the saved
files into VIDEO, frames and paths for downstream nodes. At start-up ``run/recovery`` follows what a
stopped ComfyUI left in flight; ``server/`` answers the browser extension and checks queued prompts.

Imports run one way, down this list (tests/test_layers.py checks it, and that nothing is circular):
host < rules < money < run < outputs < node_types < server < extension.py.

* ``host/``: this ComfyUI as the pack sees it: feature-detected services, folders, readable paths,
  the key file, the journal store.
* ``rules/``: what a prompt may hold and cost: widget types, takes plans, input identities, prompt
  costs, the price badge.
* ``money/``: the spend check, its settings, the ledger, fal's documents (prices, schema, balance).
* ``run/``: one paid request's path, from job to saved files; start-up recovery; fetch by id.
* ``outputs/``: NodeOutput values and frames decoded as takes land.
* ``node_types/``: the node classes, one module per family, and their shared schema pieces.
* ``server/``: HTTP routes (prices, money, key, fal docs, inbox) and the on-prompt type check.
* ``extension.py``: the ComfyUI extension: node list, routes, background start.
"""
