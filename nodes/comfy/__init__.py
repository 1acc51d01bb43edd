"""ComfyUI glue: the pack's nodes, their paid runs on fal, and the server side, in sub-packages.

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

How one paid run goes through them, module by module: docs/design.md ("How a run flows").
"""
