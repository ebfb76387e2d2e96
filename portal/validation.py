"""Input parsing shared by pages and the JSON API.

`read_body` turns a request into a dict-like (JSON object or form QueryDict) and enforces
SPEC §4 (415, 413, malformed JSON, unknown fields). `ApiForm` is a Django form that validates
either one, checks JSON types strictly and raises `Invalid(details)` with per-field messages.
"""

import datetime as dt
import ipaddress
import json
import re
import unicodedata

from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal.errors import BadRequest, Invalid, PayloadTooLarge, UnsupportedMediaType

FORM_ONLY_FIELDS = {"csrfmiddlewaretoken"}
# Fields only the portal's form posts carry (a mint form's one-time nonce, portal/once.py).
PORTAL_FORM_FIELDS = {"nonce", "access", "quotaLimit", "quotaPeriod"}


def read_body(request):
    """The request's input: a dict for JSON (API), the POST QueryDict for portal forms."""
    if not request.is_api:
        return request.POST
    length = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(length)
    except ValueError:
        raise BadRequest("Invalid Content-Length.") from None
    if length > settings.MAX_BODY_BYTES:
        raise PayloadTooLarge()
    try:
        body = request.body
    except RequestDataTooBig:
        raise PayloadTooLarge() from None
    if len(body) > settings.MAX_BODY_BYTES:
        raise PayloadTooLarge()
    if not body.strip():
        return {}
    if request.content_type != "application/json":
        raise UnsupportedMediaType()
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: nesting deeper than the parser's stack ("[[[[…", well under 1 MiB).
        raise BadRequest("Malformed JSON body.") from None
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    return data


# --- fields -------------------------------------------------------------------------------

_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"}


def clean_name(value: str, *, max_length: int = 100) -> str:
    """Trim, NFC-normalise and refuse control, bidi-override and zero-width characters."""
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        raise ValidationError("This field may not be blank.")
    if len(value) > max_length:
        raise ValidationError(f"At most {max_length} characters (it has {len(value)}).")
    for ch in value:
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            raise ValidationError(
                "Control, bidi-override and zero-width characters are not allowed."
            )
    return value


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "Lone surrogates and NUL characters are not allowed."


def has_unstorable_text(value) -> bool:
    """Does `value` (a string, or a list/dict of them, as JSON bodies nest) hold a NUL or a lone
    surrogate? Neither can be stored (PostgreSQL refuses NUL, UTF-8 refuses surrogates), so
    every string field of every body is checked here, before any field's own cleaning."""
    if isinstance(value, str):
        return bool(_UNSTORABLE.search(value))
    if isinstance(value, list | tuple):
        return any(has_unstorable_text(v) for v in value)
    if isinstance(value, dict):
        return any(has_unstorable_text(k) or has_unstorable_text(v) for k, v in value.items())
    return False


def _safe_key(key) -> str:
    """A field name as it may appear in an error body."""
    return _UNSTORABLE.sub("\ufffd", str(key)[:60])


def unstorable_fields(data, names) -> dict:
    """Per-field errors for the fields of `data` (dict or QueryDict) holding unstorable text."""
    errors = {}
    for key in names:
        values = data.getlist(key) if hasattr(data, "getlist") else [data[key]]
        if has_unstorable_text(key) or has_unstorable_text(values):
            errors[_safe_key(key)] = [UNSTORABLE_MESSAGE]
    return errors


class JsonTyped:
    """Mixin: the Python types a field accepts from a JSON body (None is always allowed)."""

    json_types: tuple = (str,)
    json_type_name = "a string"

    def json_type_ok(self, value) -> bool:
        if isinstance(value, bool) and bool not in self.json_types:
            return False
        return isinstance(value, self.json_types)


class StrField(JsonTyped, forms.CharField):
    def __init__(self, *, max_length=None, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(max_length=max_length, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value and any(
            unicodedata.category(ch) in {"Cc", "Cf"} and ch not in "\n\r\t" for ch in value
        ):
            raise ValidationError("Control and bidi-override characters are not allowed.")
        return value


class NameField(StrField):
    """SPEC §4 names: trimmed, NFC, 1–100 characters, no control/bidi/zero-width characters."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", True)
        super().__init__(strip=False, **kwargs)

    def clean(self, value):
        if value in (None, ""):
            if self.required:
                raise ValidationError("This field is required.")
            return ""
        return clean_name(str(value))


class IntField(JsonTyped, forms.IntegerField):
    json_types = (int,)
    json_type_name = "an integer"

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class BoolField(JsonTyped, forms.NullBooleanField):
    json_types = (bool,)
    json_type_name = "true or false"


class ChoiceField(JsonTyped, forms.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)


class ListWidget(forms.Widget):
    def value_from_datadict(self, data, files, name):
        if hasattr(data, "getlist"):
            # An empty text input or a blank hidden marker means "an empty list", not [""].
            values = [v for v in data.getlist(name) if v.strip()]
            if len(values) == 1 and re.search(r"[\s,]", values[0]):
                values = [v for v in re.split(r"[\s,]+", values[0]) if v]
            return values if values or name in data else None
        return data.get(name)


class ListField(JsonTyped, forms.Field):
    """A list of strings: a JSON array, repeated form fields, or one comma/newline list."""

    widget = ListWidget
    json_types = (list,)
    json_type_name = "a list of strings"

    def __init__(self, *, item_validator=None, choices=None, max_items=100, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.item_validator = item_validator
        self.choices = list(choices) if choices is not None else None
        self.max_items = max_items

    def to_python(self, value):
        if value in (None, ""):
            return None
        if not isinstance(value, list):
            raise ValidationError("Must be a list of strings.")
        if len(value) > self.max_items:
            raise ValidationError(f"At most {self.max_items} items.")
        out = []
        for item in value:
            if not isinstance(item, str):
                raise ValidationError("Must be a list of strings.")
            item = item.strip()
            if self.choices is not None and item not in self.choices:
                raise ValidationError(f"Unknown value '{item[:60]}'.")
            if self.item_validator is not None:
                item = self.item_validator(item)
            if item not in out:
                out.append(item)
        return out


def validate_ip_or_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValidationError(f"'{value[:60]}' is not an IP address or CIDR.") from None


class IpListWidget(ListWidget):
    def value_from_datadict(self, data, files, name):
        value = super().value_from_datadict(data, files, name)
        # A blank text box in the portal is "no restriction", as `null` is in JSON.
        return None if value == [] and hasattr(data, "getlist") else value


class IpListField(ListField):
    """`allowedIps`: null means no restriction; an empty list would read as "no address may
    call" yet was once stored as "any may", so it is refused (SPEC §4)."""

    widget = IpListWidget

    def __init__(self, **kwargs):
        super().__init__(item_validator=validate_ip_or_cidr, **kwargs)

    def to_python(self, value):
        if value == []:
            raise ValidationError(
                "An empty list is not allowed; send null for no restriction, or list addresses."
            )
        return super().to_python(value)


META_MAX_BYTES = 4096
META_MAX_DEPTH = 3


def _depth(value) -> int:
    """How deeply containers nest: `{}` is 1, `{"a": [1]}` is 2."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def meta_size(value) -> int:
    """The object's size as stored: compact UTF-8 JSON."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


class MetaWidget(forms.Widget):
    def value_from_datadict(self, data, files, name):
        if hasattr(data, "getlist"):
            # The portal's textarea sends JSON text; a blank box clears the metadata.
            text = data.get(name)
            if text is None:
                return None
            if not text.strip():
                return {}
            try:
                return json.loads(text)
            except (ValueError, RecursionError) as exc:
                return _BadJson(str(exc))
        return data.get(name)


class _BadJson:
    def __init__(self, reason):
        self.reason = reason


class MetaField(JsonTyped, forms.Field):
    """`meta` (SPEC §15): a JSON object of at most 4 KiB serialised and depth 3; null (or a
    blank textarea) clears it. Not searchable, never a secret."""

    widget = MetaWidget
    json_types = (dict,)
    json_type_name = "a JSON object"

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value is None:
            return {}
        if isinstance(value, _BadJson):
            raise ValidationError(f"Not valid JSON: {value.reason}.")
        if not isinstance(value, dict):
            raise ValidationError("Must be a JSON object ({…}).")
        if _depth(value) > META_MAX_DEPTH:
            raise ValidationError(f"Nested deeper than {META_MAX_DEPTH} levels.")
        size = meta_size(value)
        if size > META_MAX_BYTES:
            raise ValidationError(f"At most {META_MAX_BYTES} bytes as JSON (it has {size}).")
        return value


def to_utc(value: dt.datetime) -> dt.datetime:
    """`value` in UTC (a naive value is taken as UTC). An offset that moves it past year 1 or
    9999 is a ValidationError, not an OverflowError (a 500) when the database gets it."""
    if timezone.is_naive(value):
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValidationError("Out of range.") from None


class DateTimeField(JsonTyped, forms.Field):
    """ISO 8601 timestamp; naive values are taken as UTC."""

    json_type_name = "an ISO 8601 timestamp string"

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        if value in (None, ""):
            return None
        try:
            parsed = parse_datetime(str(value).strip().replace("z", "Z"))
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError("Not an ISO 8601 timestamp.")
        return to_utc(parsed)


class FutureDateTimeField(DateTimeField):
    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is not None and parsed <= timezone.now():
            raise ValidationError("Must be in the future.")
        return parsed


MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600


class ExpiryFormMixin:
    """`expiresAt` or `expiresIn` (seconds), not both; yields cleaned_data['expires_at']."""

    def clean(self):
        cleaned = super().clean()
        at, seconds = cleaned.get("expiresAt"), cleaned.get("expiresIn")
        if at and seconds:
            self.add_error("expiresIn", "Give expiresAt or expiresIn, not both.")
        cleaned["expires_at"] = at or (
            timezone.now() + dt.timedelta(seconds=seconds) if seconds else None
        )
        return cleaned


def expires_in_field():
    return IntField(min_value=1, max_value=MAX_LIFETIME_SECONDS)


# --- forms --------------------------------------------------------------------------------


class ApiForm(forms.Form):
    """A form that validates a JSON object or a form post, the same way.

    Unknown fields and wrong JSON types are 400s with per-field `details`. `provided` holds the
    names the client actually sent, for partial updates (PATCH).
    """

    def __init__(self, data, **kwargs):
        self.raw = data if data is not None else {}
        # QueryDict subclasses dict, so tell them apart by getlist.
        self.is_json = not hasattr(self.raw, "getlist")
        super().__init__(self.raw, **kwargs)
        self.provided = {k for k in self.raw if k in self.fields}
        # A form field posted as several inputs (a quota's limit and period) counts as sent.
        self.provided |= {
            name
            for name, field in self.fields.items()
            if not self.is_json and set(getattr(field.widget, "parts", ())) & set(self.raw)
        }

    def validate(self) -> dict:
        errors = unstorable_fields(self.raw, list(self.raw))
        for key in self.raw:
            portal_only = not self.is_json and key in PORTAL_FORM_FIELDS
            if key not in self.fields and key not in FORM_ONLY_FIELDS and not portal_only:
                errors.setdefault(_safe_key(key), ["Unknown field."])
        if self.is_json:
            for key in self.provided:
                value, field = self.raw[key], self.fields[key]
                if key in errors:
                    continue
                if value is not None and isinstance(field, JsonTyped):
                    if not field.json_type_ok(value):
                        errors[key] = [f"Must be {field.json_type_name}."]
        if errors:
            # Still validate the other fields, so the client sees every problem at once.
            if self.is_json:
                self.data = {k: v for k, v in self.raw.items() if k not in errors}
            else:
                self.data = self.raw.copy()
                for key in errors:
                    self.data.pop(key, None)
        if not self.is_valid() or errors:
            for k, v in self.errors.items():
                errors.setdefault("body" if k == "__all__" else k, list(v))
            raise Invalid(errors)
        return self.cleaned_data


def validate(form_class, request, **kwargs) -> tuple[dict, ApiForm]:
    """Read the body and validate it with `form_class`; return (cleaned_data, form)."""
    form = form_class(read_body(request), **kwargs)
    return form.validate(), form


def parse_query(request, form_class) -> dict:
    """Validate query-string filters (unknown ones are ignored, bad values are 400)."""
    data = {k: v for k, v in request.GET.items() if k in form_class.base_fields and v != ""}
    bad = unstorable_fields(request.GET, [k for k in request.GET if k in data])
    if bad:
        raise Invalid(bad)
    form = form_class(data)
    form.is_json = False
    if not form.is_valid():
        raise Invalid(dict(form.errors))
    return form.cleaned_data
