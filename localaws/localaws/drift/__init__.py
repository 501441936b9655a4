"""CloudFormation drift detection, which moto lacks (AWS CloudFormation API reference):
DetectStackDrift, DescribeStackDriftDetectionStatus, DescribeStackResourceDrifts and
DetectStackResourceDrift as an extension; DriftInformation on DescribeStacks / ListStacks /
DescribeStackResource(s) / ListStackResources as patches of moto's models (``PATCHES``).

As on AWS:
- only the properties the template sets are compared (a default the template leaves out is not
  drift); the expected side is the stack's template resolved against its parameters and resources
  (Ref, GetAtt, Sub, If), as CloudFormation resolves it;
- a resource gone from its service is DELETED (no Expected/ActualProperties then);
- types without drift support are not checked: DescribeStackResourceDrifts leaves them out, and
  DescribeStackResources shows them NOT_CHECKED; DetectStackResourceDrift refuses them;
- PropertyDifferences carry a JSON-pointer PropertyPath and ADD / REMOVE / NOT_EQUAL;
- list properties AWS treats as unordered (Tags, IAM policy lists) are compared regardless of
  order, policy documents by meaning (``"s3:*"`` equals ``["s3:*"]``), ``aws:`` tags are ignored.

Local differences (documented in the README): the supported types and properties are the ones our
baselines use (``COMPARED``); other properties a template sets on a supported type are not compared.
Detection runs when DetectStackDrift is called (moto's stacks are synchronous); the status reads
DETECTION_IN_PROGRESS for the first ``DriftExtension.polls_in_progress`` polls (default 0), so
pollers can be tested against the real state machine.

Layout, as moto's services: ``urls`` (which requests), ``responses`` (the WSGI extension and its
XML), ``models`` (drift state kept on moto's stacks), ``exceptions``; ``compare`` (the diff engine),
``readers`` (live properties per resource type), ``information`` (the DriftInformation patches).
"""

from __future__ import annotations

from localaws.drift.compare import check_resource, differences, policy
from localaws.drift.information import PATCHES
from localaws.drift.readers import COMPARED, READERS
from localaws.drift.responses import DriftExtension

__all__ = ["COMPARED", "PATCHES", "READERS", "DriftExtension", "check_resource", "differences", "policy"]
