"""moto_server with the few behaviours cordon's offline stack needs and moto lacks.

Run exactly as `moto_server` (same arguments). Each change makes moto answer as AWS does
where cordon's correctness depends on it; nothing here is cordon's own logic.

1. sts:AssumeRole refuses a role that does not exist in the target account (AWS answers
   AccessDenied; moto assumes any ARN). Without this, "the member account's responder role is
   missing" could not be tested. `OrganizationAccountAccessRole` is exempt: AWS creates it in
   every account made through Organizations, and the offline organization's management
   account is reached through it.
2. organizations:ListParents from a member account that is a registered delegated
   administrator is answered from the management account's organization (moto answers only
   the management account); from any other member it is AccessDeniedException, as in AWS. An
   account that is not in the organization is ChildNotFoundException (moto raises
   AccountNotFoundException).
3. organizations:CreateAccount with the tag `cordon:offline-account-id` creates the account
   with that id, so the offline organization can hold the account the stack runs in; likewise
   CreateOrganizationalUnit with `cordon:offline-ou-id`, so an offline policy can name OUs.
4. securityhub:BatchUpdateFindings (PATCH /findings/batchupdate) updates the findings moto
   stores (moto lacks the operation: the SDK got moto's 404 page). As AWS does: each
   FindingIdentifier must match a stored finding by Id and ProductArn, else it is an
   UnprocessedFindings entry `FindingNotFound` (`DuplicatedFindingIdentifier` for one named
   twice); Note {Text, UpdatedBy} is stored with UpdatedAt, UserDefinedFields are merged into
   the finding's map, Workflow.Status also sets the deprecated WorkflowState to its nearest
   legacy value (NEW, NOTIFIED→ASSIGNED, RESOLVED, SUPPRESSED→DEFERRED), Severity.Label and
   Normalized derive each other as AWS documents; VerificationState, Confidence, Criticality
   and Types are replaced. The finding's own UpdatedAt is left alone (AWS: "Updates from
   BatchUpdateFindings don't affect the value of UpdatedAt"). An invalid
   request is InvalidInputException naming the field (Note.Text over 512 characters, Note
   without UpdatedBy, over 100 identifiers, over 50 UserDefinedFields, a key over 128 or a
   value over 1024 characters, a value outside its enum or 0-100). A hub that is not
   enabled is InvalidAccessException.
5. securityhub:CreateActionTarget (POST /actionTargets), DescribeActionTargets (POST
   /actionTargets/get), UpdateActionTarget (PATCH /actionTargets/{arn+}) and
   DeleteActionTarget (DELETE /actionTargets/{arn+}), per account and region (moto lacks
   them). The ARN is arn:PARTITION:securityhub:REGION:ACCOUNT:action/custom/ID; creating an
   existing one is ResourceConflictException, an unknown one is ResourceNotFoundException,
   an Id that is not 1-20 alphanumerics or a Name over 20 characters is
   InvalidInputException, a 51st target LimitExceededException.
6. securityhub:GetFindings applies its Filters (moto returns every finding whatever the
   filters): the string filters on the finding's fields (Id, ProductArn, AwsAccountId,
   WorkflowStatus, SeverityLabel, ResourceId, ...; EQUALS/PREFIX joined by OR,
   NOT_EQUALS/PREFIX_NOT_EQUALS by AND), the number filters SeverityNormalized,
   SeverityProduct, Confidence and Criticality, and the map filters ProductFields,
   UserDefinedFields and ResourceTags. A filter moto cannot evaluate is refused
   (NotImplementedException naming it) rather than silently ignored.

7. ec2:ReplaceIamInstanceProfileAssociation gives the association a new AssociationId (as AWS
   does: the old association ends, a new one begins) and puts the new profile on the instance
   (moto kept showing the old profile's ARN in DescribeInstances' IamInstanceProfile); and
   RunInstances with an IamInstanceProfile associates it with every instance it launches
   (moto: with the first only), so several instances can run on one role.
8. ec2:DescribeInstances honours the filter `iam-instance-profile.arn` (moto refused it as not
   implemented): the ARN of the instance's associated instance profile.
9. The AWS managed policies of AWS_MANAGED_POLICIES exist, so a role can attach them as the
   templates do (AmazonSSMManagedInstanceCore for the quarantine instance role). moto loads
   AWS's managed policies only all together, behind MOTO_IAM_LOAD_MANAGED_POLICIES, which
   makes every account's IAM slow to create; these few are read from moto's own copy. And an
   AWS::IAM::Role that CloudFormation creates attaches its ManagedPolicyArns (moto ignored
   them), so infra/member.yaml's quarantine instance role is the template's.

The account of a Security Hub call is the caller's, as for every moto backend: moto maps the
access key (an assumed role's too) to its account, so a member account's findings and action
targets are its own.
"""

import datetime
import json
import re
import sys

from moto.core.exceptions import ServiceException
from moto.ec2 import utils as ec2_utils
from moto.ec2.models.iam_instance_profile import IamInstanceProfileAssociationBackend
from moto.ec2.responses.instances import InstanceResponse
from moto.iam import aws_managed_policies
from moto.iam import models as iam_models
from moto.iam.models import iam_backends
from moto.organizations import models as org_models
from moto.organizations.exceptions import AccountNotFoundException
from moto.securityhub import urls as securityhub_urls
from moto.securityhub.exceptions import SecurityHubClientError
from moto.securityhub.models import SecurityHubBackend
from moto.securityhub.responses import SecurityHubResponse
from moto.server import main
from moto.sts import models as sts_models
from moto.utilities.paginator import paginate

EXEMPT_ROLE = "OrganizationAccountAccessRole"
ACCOUNT_ID_TAG = "cordon:offline-account-id"
OU_ID_TAG = "cordon:offline-ou-id"


class _AccessDenied(ServiceException):
    code = "AccessDenied"


class _OrgAccessDenied(ServiceException):
    code = "AccessDeniedException"


class _ChildNotFound(ServiceException):
    code = "ChildNotFoundException"


def _split_role_arn(role_arn):
    # arn:PARTITION:iam::ACCOUNT:role/PATH/NAME
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("role/"):
        return None
    return parts[1], parts[4], parts[5].rsplit("/", 1)[-1]


_assume_role = sts_models.STSBackend.assume_role


def assume_role(self, region_name, role_session_name, role_arn, *args, **kwargs):
    target = _split_role_arn(role_arn)
    if target is not None:
        partition, account, name = target
        if name != EXEMPT_ROLE:
            roles = iam_backends[account][partition].roles.values()
            if not any(r.name == name for r in roles):
                raise _AccessDenied(
                    f"User: arn:{partition}:sts::{self.account_id}:assumed-role/caller is not "
                    f"authorized to perform: sts:AssumeRole on resource: {role_arn}"
                )
    return _assume_role(self, region_name, role_session_name, role_arn, *args, **kwargs)


sts_models.STSBackend.assume_role = assume_role


_list_parents = org_models.OrganizationsBackend.list_parents


def list_parents(self, **kwargs):
    backend = self
    if self.org is None:
        owner = org_models.organizations_backends.master_accounts.get(self.account_id)
        if owner is None:
            raise _OrgAccessDenied(
                "You don't have permissions to access this resource: the account is not in an organization"
            )
        master_id, partition = owner
        backend = org_models.organizations_backends[master_id][partition]
        if not any(a.account.id == self.account_id for a in backend.admins):
            raise _OrgAccessDenied(
                "You don't have permissions to access this resource: only the management "
                "account or a delegated administrator may call ListParents"
            )
    try:
        return _list_parents(backend, **kwargs)
    except AccountNotFoundException:
        raise _ChildNotFound(
            "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified."
        )


org_models.OrganizationsBackend.list_parents = list_parents


def _with_fixed_id(original, make_id, tag):
    """`original`, creating its object with the id given in the tag `tag`, if any."""

    def create(self, **kwargs):
        wanted = next(
            (t["Value"] for t in kwargs.get("Tags", []) if t.get("Key") == tag), None
        )
        if wanted is None:
            return original(self, **kwargs)
        real = getattr(org_models.utils, make_id)
        setattr(org_models.utils, make_id, lambda *_: wanted)
        try:
            return original(self, **kwargs)
        finally:
            setattr(org_models.utils, make_id, real)

    return create


org_models.OrganizationsBackend.create_account = _with_fixed_id(
    org_models.OrganizationsBackend.create_account, "make_random_account_id", ACCOUNT_ID_TAG
)
org_models.OrganizationsBackend.create_organizational_unit = _with_fixed_id(
    org_models.OrganizationsBackend.create_organizational_unit, "make_random_ou_id", OU_ID_TAG
)


# --- Security Hub: BatchUpdateFindings, action targets, GetFindings filters (4-6) ---------

MAX_IDENTIFIERS = 100
MAX_NOTE = 512
MAX_FIELDS = 50
MAX_FIELD_KEY = 128
MAX_FIELD_VALUE = 1024
MAX_TYPES = 50
MAX_ACTION_TARGETS = 50
WORKFLOW_STATES = {
    "NEW": "NEW",
    "NOTIFIED": "ASSIGNED",
    "RESOLVED": "RESOLVED",
    "SUPPRESSED": "DEFERRED",
}
SEVERITY_LABELS = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
SEVERITY_NORMALIZED = {"INFORMATIONAL": 0, "LOW": 1, "MEDIUM": 40, "HIGH": 70, "CRITICAL": 90}
VERIFICATION_STATES = ["UNKNOWN", "TRUE_POSITIVE", "FALSE_POSITIVE", "BENIGN_POSITIVE"]
TYPE_NAMESPACES = [
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
]
ACTION_TARGET_ID = re.compile(r"^[A-Za-z0-9]{1,20}$")


class _InvalidInput(SecurityHubClientError):
    code = "InvalidInputException"

    def __init__(self, field, problem):
        super().__init__(f"Invalid parameter '{field}': {problem}")


class _InvalidAccess(SecurityHubClientError):
    code = "InvalidAccessException"


class _ResourceConflict(SecurityHubClientError):
    code = "ResourceConflictException"


class _ResourceNotFound(SecurityHubClientError):
    code = "ResourceNotFoundException"


class _LimitExceeded(SecurityHubClientError):
    code = "LimitExceededException"


class _FilterNotImplemented(SecurityHubClientError):
    code = "NotImplementedException"


def _now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _require_hub(backend):
    if not backend.enabled:
        raise _InvalidAccess(
            f"Account {backend.account_id} is not subscribed to AWS Security Hub"
        )


def _ratio(value, field):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise _InvalidInput(field, f"must be an integer from 0 to 100 (got {value!r})")
    return value


def _one_of(value, field, allowed):
    if value is not None and value not in allowed:
        raise _InvalidInput(field, f"must be one of {', '.join(allowed)} (got {value!r})")
    return value


def _validate_update(params):
    """The request's updates, checked as AWS checks them, as a function applying them to a
    finding's data (returning an error message when the result is not a valid finding)."""
    ids = params.get("FindingIdentifiers")
    if not isinstance(ids, list):
        raise _InvalidInput("FindingIdentifiers", "is required")
    if len(ids) > MAX_IDENTIFIERS:
        raise _InvalidInput(
            "FindingIdentifiers", f"at most {MAX_IDENTIFIERS} findings (got {len(ids)})"
        )
    for i, ident in enumerate(ids):
        for key in ("Id", "ProductArn"):
            if not isinstance(ident, dict) or not ident.get(key):
                raise _InvalidInput(f"FindingIdentifiers[{i}].{key}", "is required")

    note = params.get("Note")
    if note is not None:
        text, by = note.get("Text"), note.get("UpdatedBy")
        if not text:
            raise _InvalidInput("Note.Text", "is required")
        if len(text) > MAX_NOTE:
            raise _InvalidInput(
                "Note.Text", f"at most {MAX_NOTE} characters (got {len(text)})"
            )
        if not by:
            raise _InvalidInput("Note.UpdatedBy", "is required with Note.Text")
        if len(by) > MAX_NOTE:
            raise _InvalidInput(
                "Note.UpdatedBy", f"at most {MAX_NOTE} characters (got {len(by)})"
            )

    fields = params.get("UserDefinedFields")
    if fields is not None:
        if len(fields) > MAX_FIELDS:
            raise _InvalidInput(
                "UserDefinedFields", f"at most {MAX_FIELDS} fields (got {len(fields)})"
            )
        for key, value in fields.items():
            if not key or len(key) > MAX_FIELD_KEY:
                raise _InvalidInput(
                    "UserDefinedFields",
                    f"a key has 1 to {MAX_FIELD_KEY} characters (got {len(key)})",
                )
            if not isinstance(value, str) or not value or len(value) > MAX_FIELD_VALUE:
                raise _InvalidInput(
                    f"UserDefinedFields.{key}",
                    f"a value has 1 to {MAX_FIELD_VALUE} characters",
                )

    status = (params.get("Workflow") or {}).get("Status")
    _one_of(status, "Workflow.Status", list(WORKFLOW_STATES))
    severity = params.get("Severity")
    if severity is not None:
        _one_of(severity.get("Label"), "Severity.Label", SEVERITY_LABELS)
        _ratio(severity.get("Normalized"), "Severity.Normalized")
    _one_of(params.get("VerificationState"), "VerificationState", VERIFICATION_STATES)
    confidence = _ratio(params.get("Confidence"), "Confidence")
    criticality = _ratio(params.get("Criticality"), "Criticality")
    types = params.get("Types")
    if types is not None:
        if len(types) > MAX_TYPES:
            raise _InvalidInput("Types", f"at most {MAX_TYPES} types (got {len(types)})")
        for t in types:
            if not isinstance(t, str) or t.split("/", 1)[0] not in TYPE_NAMESPACES:
                raise _InvalidInput(
                    "Types",
                    f"{t!r} is not namespace/category/classifier with a namespace of "
                    + ", ".join(TYPE_NAMESPACES),
                )

    def apply(data):
        if fields is not None:
            merged = dict(data.get("UserDefinedFields") or {}, **fields)
            if len(merged) > MAX_FIELDS:
                return (
                    f"UserDefinedFields would hold {len(merged)} fields; a finding holds "
                    f"at most {MAX_FIELDS}"
                )
            data["UserDefinedFields"] = merged
        if note is not None:
            data["Note"] = {
                "Text": note["Text"],
                "UpdatedBy": note["UpdatedBy"],
                "UpdatedAt": _now(),
            }
        if status is not None:
            data["Workflow"] = {"Status": status}
            data["WorkflowState"] = WORKFLOW_STATES[status]
        if severity is not None:
            current = dict(data.get("Severity") or {})
            label, normalized = severity.get("Label"), severity.get("Normalized")
            if label is not None:
                current["Label"] = label
                current["Normalized"] = (
                    normalized if normalized is not None else SEVERITY_NORMALIZED[label]
                )
            elif normalized is not None:
                current["Normalized"] = normalized
                current["Label"] = next(
                    lab
                    for lab, low in reversed(SEVERITY_NORMALIZED.items())
                    if normalized >= low
                )
            if severity.get("Product") is not None:
                current["Product"] = severity["Product"]
            data["Severity"] = current
        if params.get("VerificationState") is not None:
            data["VerificationState"] = params["VerificationState"]
        if confidence is not None:
            data["Confidence"] = confidence
        if criticality is not None:
            data["Criticality"] = criticality
        if types is not None:
            data["Types"] = list(types)
        return None

    return ids, apply


def batch_update_findings(self, params):
    _require_hub(self)
    ids, apply = _validate_update(params)
    keys = [(i["Id"], i["ProductArn"]) for i in ids]
    processed, unprocessed = [], []

    def refuse(ident, code, message):
        unprocessed.append(
            {"FindingIdentifier": ident, "ErrorCode": code, "ErrorMessage": message}
        )

    for key in keys:
        ident = {"Id": key[0], "ProductArn": key[1]}
        if keys.count(key) > 1:
            refuse(
                ident,
                "DuplicatedFindingIdentifier",
                "The request names this finding more than once",
            )
            continue
        finding = next(
            (
                f
                for f in self.findings
                if f.id == key[0] and f.data.get("ProductArn") == key[1]
            ),
            None,
        )
        if finding is None:
            refuse(
                ident,
                "FindingNotFound",
                f"No finding with this Id and ProductArn in account {self.account_id} "
                f"({self.region_name})",
            )
            continue
        problem = apply(finding.data)
        if problem is not None:
            refuse(ident, "InvalidInput", problem)
            continue
        processed.append(ident)
    return processed, unprocessed


def _action_target_arn(self, target_id):
    return (
        f"arn:{self.partition}:securityhub:{self.region_name}:{self.account_id}"
        f":action/custom/{target_id}"
    )


def _action_target(self, arn):
    target = self.action_targets.get(arn)
    if target is None:
        raise _ResourceNotFound(f"Action target {arn} not found")
    return target


def create_action_target(self, name, description, target_id):
    _require_hub(self)
    if not isinstance(target_id, str) or not ACTION_TARGET_ID.match(target_id):
        raise _InvalidInput("Id", f"1 to 20 alphanumeric characters (got {target_id!r})")
    if not name or len(name) > 20:
        raise _InvalidInput("Name", f"1 to 20 characters (got {name!r})")
    if not description:
        raise _InvalidInput("Description", "is required")
    arn = _action_target_arn(self, target_id)
    if arn in self.action_targets:
        raise _ResourceConflict(f"Action target {arn} already exists")
    if len(self.action_targets) >= MAX_ACTION_TARGETS:
        raise _LimitExceeded(
            f"An account holds at most {MAX_ACTION_TARGETS} custom action targets per Region"
        )
    self.action_targets[arn] = {
        "ActionTargetArn": arn,
        "Name": name,
        "Description": description,
    }
    return arn


def describe_action_targets(self, arns):
    _require_hub(self)
    if arns:
        return [dict(self.action_targets[a]) for a in arns if a in self.action_targets]
    return [dict(t) for t in self.action_targets.values()]


def update_action_target(self, arn, name, description):
    _require_hub(self)
    target = _action_target(self, arn)
    if name is not None:
        if not name or len(name) > 20:
            raise _InvalidInput("Name", f"1 to 20 characters (got {name!r})")
        target["Name"] = name
    if description is not None:
        if not description:
            raise _InvalidInput("Description", "must not be empty")
        target["Description"] = description


def delete_action_target(self, arn):
    _require_hub(self)
    _action_target(self, arn)
    del self.action_targets[arn]
    return arn


_hub_init = SecurityHubBackend.__init__


def _hub_init_with_targets(self, region_name, account_id):
    _hub_init(self, region_name, account_id)
    self.action_targets = {}


SecurityHubBackend.__init__ = _hub_init_with_targets
SecurityHubBackend.batch_update_findings = batch_update_findings
SecurityHubBackend.create_action_target = create_action_target
SecurityHubBackend.describe_action_targets = describe_action_targets
SecurityHubBackend.update_action_target = update_action_target
SecurityHubBackend.delete_action_target = delete_action_target


# GetFindings filters: the finding paths each filter reads ("[]" walks a list).
STRING_FILTERS = {
    "ProductArn": "ProductArn",
    "AwsAccountId": "AwsAccountId",
    "AwsAccountName": "AwsAccountName",
    "Id": "Id",
    "GeneratorId": "GeneratorId",
    "Region": "Region",
    "Type": "Types[]",
    "SeverityLabel": "Severity.Label",
    "Title": "Title",
    "Description": "Description",
    "RecommendationText": "Remediation.Recommendation.Text",
    "SourceUrl": "SourceUrl",
    "ProductName": "ProductName",
    "CompanyName": "CompanyName",
    "ResourceType": "Resources[].Type",
    "ResourceId": "Resources[].Id",
    "ResourcePartition": "Resources[].Partition",
    "ResourceRegion": "Resources[].Region",
    "ComplianceStatus": "Compliance.Status",
    "VerificationState": "VerificationState",
    "WorkflowState": "WorkflowState",
    "WorkflowStatus": "Workflow.Status",
    "RecordState": "RecordState",
    "RelatedFindingsProductArn": "RelatedFindings[].ProductArn",
    "RelatedFindingsId": "RelatedFindings[].Id",
    "NoteText": "Note.Text",
    "NoteUpdatedBy": "Note.UpdatedBy",
    "FindingProviderFieldsSeverityLabel": "FindingProviderFields.Severity.Label",
    "FindingProviderFieldsSeverityOriginal": "FindingProviderFields.Severity.Original",
    "FindingProviderFieldsTypes": "FindingProviderFields.Types[]",
}
NUMBER_FILTERS = {
    "SeverityProduct": "Severity.Product",
    "SeverityNormalized": "Severity.Normalized",
    "Confidence": "Confidence",
    "Criticality": "Criticality",
}
MAP_FILTERS = {
    "ProductFields": "ProductFields",
    "UserDefinedFields": "UserDefinedFields",
    "ResourceTags": "Resources[].Tags",
}


def _values(data, path):
    values = [data]
    for part in path.split("."):
        many = part.endswith("[]")
        key = part[:-2] if many else part
        step = []
        for v in values:
            v = v.get(key) if isinstance(v, dict) else None
            if v is None:
                continue
            step.extend(v if many and isinstance(v, list) else [v])
        values = step
    return values


STRING_COMPARISONS = {
    "EQUALS": lambda value, want: value == want,
    "PREFIX": lambda value, want: value.startswith(want),
    "CONTAINS": lambda value, want: want in value,
    "NOT_EQUALS": lambda value, want: value != want,
    "PREFIX_NOT_EQUALS": lambda value, want: not value.startswith(want),
    "NOT_CONTAINS": lambda value, want: want not in value,
}
POSITIVE_COMPARISONS = ("EQUALS", "PREFIX", "CONTAINS")


def _string_match(values, filters, name):
    """AWS's rule: EQUALS, PREFIX and CONTAINS filters on one field are joined by OR; the
    negative ones by AND, and apply to every value of the field."""

    def test(value, f):
        how = f.get("Comparison", "EQUALS")
        if how not in STRING_COMPARISONS:
            raise _InvalidInput(
                f"Filters.{name}.Comparison",
                f"must be one of {', '.join(STRING_COMPARISONS)} (got {how!r})",
            )
        return STRING_COMPARISONS[how](str(value), f.get("Value", ""))

    positive = [f for f in filters if f.get("Comparison", "EQUALS") in POSITIVE_COMPARISONS]
    negative = [f for f in filters if f not in positive]
    if positive and not any(test(v, f) for f in positive for v in values):
        return False
    return all(test(v, f) for f in negative for v in values)


def _number_match(values, filters):
    ops = {
        "Eq": lambda v, x: v == x,
        "Gte": lambda v, x: v >= x,
        "Lte": lambda v, x: v <= x,
        "Gt": lambda v, x: v > x,
        "Lt": lambda v, x: v < x,
    }
    return all(
        any(
            all(ops[op](v, x) for op, x in f.items() if op in ops)
            for v in values
            if isinstance(v, (int, float))
        )
        for f in filters
    )


def _map_match(maps, filters, name):
    """Each filter tests the value under its Key; joined as string filters are."""

    def test(f):
        values = [m[f.get("Key")] for m in maps if isinstance(m, dict) and f.get("Key") in m]
        return _string_match(values, [f], name)

    positive = [f for f in filters if f.get("Comparison", "EQUALS") in POSITIVE_COMPARISONS]
    negative = [f for f in filters if f not in positive]
    if positive and not any(test(f) for f in positive):
        return False
    return all(test(f) for f in negative)


def _finding_matches(data, filters):
    for name, value in (filters or {}).items():
        if not value:
            continue
        if name in STRING_FILTERS:
            ok = _string_match(_values(data, STRING_FILTERS[name]), value, name)
        elif name in NUMBER_FILTERS:
            ok = _number_match(_values(data, NUMBER_FILTERS[name]), value)
        elif name in MAP_FILTERS:
            ok = _map_match(_values(data, MAP_FILTERS[name]), value, name)
        else:
            raise _FilterNotImplemented(
                f"The offline Security Hub (moto) cannot evaluate the GetFindings filter {name}"
            )
        if not ok:
            return False
    return True


_all_findings = SecurityHubBackend.get_findings.__wrapped__


def get_findings(self, filters=None, sort_criteria=None, max_results=None):
    findings = _all_findings(
        self, filters=filters, sort_criteria=sort_criteria, max_results=max_results
    )
    return [f for f in findings if _finding_matches(f, filters)]


SecurityHubBackend.get_findings = paginate(SecurityHubBackend.PAGINATION_MODEL)(get_findings)


def _body(response):
    raw = response.body
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    return json.loads(raw) if raw else {}


def _batch_update_findings_response(self):
    processed, unprocessed = self.securityhub_backend.batch_update_findings(_body(self))
    return json.dumps(
        {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}
    )


def _create_action_target_response(self):
    params = _body(self)
    arn = self.securityhub_backend.create_action_target(
        params.get("Name"), params.get("Description"), params.get("Id")
    )
    return json.dumps({"ActionTargetArn": arn})


def _describe_action_targets_response(self):
    params = _body(self)
    targets = self.securityhub_backend.describe_action_targets(
        params.get("ActionTargetArns")
    )
    start = int(params.get("NextToken") or 0)
    limit = int(params.get("MaxResults") or 100)
    page = {"ActionTargets": targets[start : start + limit]}
    if start + limit < len(targets):
        page["NextToken"] = str(start + limit)
    return json.dumps(page)


def _update_action_target_response(self):
    params = _body(self)
    self.securityhub_backend.update_action_target(
        self._get_param("ActionTargetArn"), params.get("Name"), params.get("Description")
    )
    return json.dumps({})


def _delete_action_target_response(self):
    arn = self.securityhub_backend.delete_action_target(
        self._get_param("ActionTargetArn")
    )
    return json.dumps({"ActionTargetArn": arn})


SecurityHubResponse.batch_update_findings = _batch_update_findings_response
SecurityHubResponse.create_action_target = _create_action_target_response
SecurityHubResponse.describe_action_targets = _describe_action_targets_response
SecurityHubResponse.update_action_target = _update_action_target_response
SecurityHubResponse.delete_action_target = _delete_action_target_response
securityhub_urls.url_paths.update(
    {
        "{0}/findings/batchupdate$": SecurityHubResponse.dispatch,
        "{0}/actionTargets$": SecurityHubResponse.dispatch,
        "{0}/actionTargets/get$": SecurityHubResponse.dispatch,
        "{0}/actionTargets/(?P<ActionTargetArn>.+)$": SecurityHubResponse.dispatch,
    }
)


# --- EC2: instance profile associations (7, 8) --------------------------------------------

_replace_association = (
    IamInstanceProfileAssociationBackend.replace_iam_instance_profile_association
)


def replace_iam_instance_profile_association(self, association_id, *args, **kwargs):
    association = _replace_association(self, association_id, *args, **kwargs)
    association.association_id = ec2_utils.random_iam_instance_profile_association_id()
    # What DescribeInstances shows, in moto's own shape (as moto's association sets it).
    self.modify_instance_attribute(
        association.instance_id,
        "iam_instance_profile",
        {"Arn": association.iam_instance_profile.arn, "Id": association.association_id},
    )
    return association


IamInstanceProfileAssociationBackend.replace_iam_instance_profile_association = (
    replace_iam_instance_profile_association
)

_run_instances = InstanceResponse.run_instances


def run_instances(self):
    result = _run_instances(self)
    arn = self._get_param("IamInstanceProfile.Arn")
    name = None if arn else self._get_param("IamInstanceProfile.Name")
    if arn or name:
        # moto associated the first instance; the others, as AWS does.
        for instance in result.result.instances[1:]:
            self.ec2_backend.associate_iam_instance_profile(
                instance_id=instance.id,
                iam_instance_profile_name=name,
                iam_instance_profile_arn=arn,
            )
    return result


InstanceResponse.run_instances = run_instances

# An instance without a profile has `iam_instance_profile` None: it matches no ARN.
ec2_utils.filter_dict_attribute_mapping["iam-instance-profile.arn"] = "iam_instance_profile.Arn"


# --- IAM: the AWS managed policies the templates attach (9) -------------------------------

AWS_MANAGED_POLICIES = ["AmazonSSMManagedInstanceCore"]
_aws_policy_data = {}
_init_aws_policies = iam_models.IAMBackend._init_aws_policies


def _init_named_aws_policies(self):
    if iam_models.load_iam_aws_managed_policies():
        return _init_aws_policies(self)
    if not _aws_policy_data:
        every = json.loads(aws_managed_policies.aws_managed_policies_data)
        _aws_policy_data.update({name: every[name] for name in AWS_MANAGED_POLICIES})
    return [
        iam_models.AWSManagedPolicy.from_data(name, self.account_id, self.region_name, data)
        for name, data in _aws_policy_data.items()
    ]


iam_models.IAMBackend._init_aws_policies = _init_named_aws_policies

_role_from_cloudformation = iam_models.Role.create_from_cloudformation_json.__func__


def _role_with_managed_policies(cls, resource_name, template, account_id, region_name, **kwargs):
    role = _role_from_cloudformation(
        cls, resource_name, template, account_id, region_name, **kwargs
    )
    backend = iam_backends[account_id][iam_models.get_partition(region_name)]
    for arn in template["Properties"].get("ManagedPolicyArns", []):
        backend.attach_role_policy(arn, role.name)
    return role


iam_models.Role.create_from_cloudformation_json = classmethod(_role_with_managed_policies)


if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
