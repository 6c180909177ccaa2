"""Tags over JSON: counts, rename or merge, delete."""

from __future__ import annotations

from flask import Response

from daybook.api import TAG_TAGS, bp, caller, json_response
from daybook.api.schemas import TagList, TagOut, TagPath, TagUpdate, problems
from daybook.errors import ValidationError
from daybook.services import tags


def _counts(user) -> dict[str, int]:
    return dict(tags.list_tags(user))


@bp.get("/tags", tags=[TAG_TAGS], responses={200: TagList})
def tag_list():
    """List tags with how many live entries carry each."""
    return json_response(
        TagList(tags=[TagOut(name=n, count=c) for n, c in tags.list_tags(caller())])
    )


@bp.patch("/tags/<path:name>", tags=[TAG_TAGS], responses={200: TagOut, **problems(404, 422)})
def tag_update(path: TagPath, body: TagUpdate):
    """Rename a tag; renaming onto an existing tag merges the two."""
    user = caller()
    try:
        new_name = tags.rename_tag(user, path.name, body.name)
    except ValidationError as exc:
        # The service names the web form's field; the API's body calls it `name`.
        fields = {("name" if k == "new_name" else k): v for k, v in exc.fields.items()}
        raise ValidationError(fields) from None
    return json_response(TagOut(name=new_name, count=_counts(user).get(new_name, 0)))


@bp.delete("/tags/<path:name>", tags=[TAG_TAGS], responses={204: None, **problems(404)})
def tag_delete(path: TagPath):
    """Remove a tag from every entry and delete it."""
    tags.delete_tag(caller(), path.name)
    return Response(status=204)
