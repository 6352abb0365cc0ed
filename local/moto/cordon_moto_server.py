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
"""

import sys

from moto.core.exceptions import ServiceException
from moto.iam.models import iam_backends
from moto.organizations import models as org_models
from moto.organizations.exceptions import AccountNotFoundException
from moto.server import main
from moto.sts import models as sts_models

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


if __name__ == "__main__":
    sys.argv[0] = "moto_server"
    sys.exit(main())
