"""Alibaba Cloud SOAR playbooks -> Orquesta workflows.

SOAR's visual editor exports a playbook as ``{"cells": [...]}``: nodes (one ``startEvent``,
``endEvent`` nodes, ``action`` nodes running a component) and ``sequenceFlow`` edges between
them.  ``convert_playbook`` turns one into an Orquesta workflow and its st2 action metadata:

- each NotifyMessage node becomes a task running ``notify_message.<actionName>`` with the
  node's ``valueData`` as input (or, with ``expose_parameters``, as workflow parameters whose
  defaults are those values);
- sequence flows become transitions on success; several outgoing flows are a branch (one
  transition to several tasks), several incoming flows a join (``join: all``);
- ``${Node.field}`` becomes ``<% task(Node).result.result.field %>`` (the python runner puts
  an action's returned dict under ``result``), ``${event.x}`` becomes ``<% ctx(event).x %>``
  with ``event`` a workflow input;
- a notifyByCustom node's ``assetUuid`` selects the SMTP instance with that ``uuid`` in the
  pack config: ``email: 1`` becomes ``email: <assetUuid>``.

Whatever cannot be converted - another component, a gateway, a loop, several start nodes, no
end node, a flow whose end is missing, a reference to a node that has not run yet - raises
``PlaybookError`` listing every problem, each naming the node by nodeName and id.  Nothing
is dropped silently: what is converted with a caveat is listed in ``warnings``.

A playbook may come from an attacker: expression syntax in any key or value of a node's
``valueData`` is refused (the workflow's only expressions are the converter's own), the
playbook's size and nesting are bounded (``graph.MAX_PLAYBOOK_*``), every walk over it is
iterative, and the files written stay inside the directory given (``convert``).
"""

from ..parameters import COMPONENT_ACTIONS
from .convert import ConvertedPlaybook, convert_playbook
from .graph import PlaybookError, load_playbook

__all__ = ["PlaybookError", "ConvertedPlaybook", "load_playbook", "convert_playbook",
           "ACTION_PARAMETERS"]

# the actions a playbook node may run -> their parameters; the name this module always
# exported (parameters.ACTION_PARAMETERS is every action of the pack, this only the
# component's)
ACTION_PARAMETERS = COMPONENT_ACTIONS
