"""GET /api/sessions/, /api/sessions/<session_id>/, /api/users/ and /api/users/<user_id>/."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from llm.analytics import people
from llm.analytics.filters import parse_positive_int
from llm.api.exceptions import InvalidParameter
from llm.api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, CappedCountPagination
from llm.api.serializers import people as shapes
from llm.api.serializers.errors import READ_ERRORS, error_responses
from llm.api.serializers.pages import capped_page
from llm.api.views.logs import PAGE_PARAMETERS
from llm.api.views.metrics import FILTER_PARAMETERS, query_parameter

# The shared window, model and user_id; status is not a filter of these lists.
WINDOW_PARAMETERS = [p for p in FILTER_PARAMETERS if p.name != "status"]


def _ordering_parameter(choices: tuple[str, ...], default: str) -> OpenApiParameter:
    return query_parameter(
        "ordering", enum=[p + f for f in choices for p in ("", "-")], description=f"Default {default}."
    )


class GroupPagination(CappedCountPagination):
    """The logs list's page envelope for grouped rows. Their total comes with the page (COUNT(*) OVER ()),
    so the count is always exact and costs no second query."""

    def paginate_groups(self, *, fetch, request) -> list[dict]:
        params = request.query_params
        self.request = request
        self.page = parse_positive_int(params=params, name="page", default=1, maximum=MAX_PAGE)
        self.page_size = parse_positive_int(
            params=params, name="page_size", default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE
        )
        offset = (self.page - 1) * self.page_size
        page = fetch(offset=offset, limit=self.page_size)
        if not page.rows and self.page > 1:
            raise InvalidParameter("page", "Page out of range.")
        self.count, self.count_is_exact = page.total, True
        self.has_next = offset + len(page.rows) < page.total
        return page.rows


def _list(request, *, lister, orderings: tuple[str, ...], default: str, shape):
    ordering = people.parse_ordering(params=request.query_params, orderings=orderings, default=default)
    filters = people.people_filters(params=request.query_params)
    paginator = GroupPagination()

    def fetch(*, offset: int, limit: int):
        return lister(filters=filters, ordering=ordering, offset=offset, limit=limit)

    rows = paginator.paginate_groups(fetch=fetch, request=request)
    return paginator.response(shape(rows, many=True).data)


class SessionListView(APIView):
    @extend_schema(
        operation_id="api_sessions_list",
        parameters=[
            *WINDOW_PARAMETERS,
            _ordering_parameter(people.SESSION_ORDERINGS, "-last_seen"),
            *PAGE_PARAMETERS,
        ],
        responses={
            200: capped_page(shapes.SessionSerializer, name="PaginatedSessionList"),
            **error_responses(400, *READ_ERRORS),
        },
    )
    def get(self, request):
        return _list(
            request,
            lister=people.session_list,
            orderings=people.SESSION_ORDERINGS,
            default="-last_seen",
            shape=shapes.SessionSerializer,
        )


class SessionDetailView(APIView):
    @extend_schema(
        parameters=WINDOW_PARAMETERS,
        responses={200: shapes.SessionDetailSerializer, **error_responses(400, 404, *READ_ERRORS)},
    )
    def get(self, request, session_id: str):
        filters = people.people_filters(params=request.query_params)
        found = people.session_detail(filters=filters, session_id=session_id)
        if found is None:
            raise NotFound("No calls with this session_id.")
        return Response(shapes.SessionDetailSerializer(found).data)


class UserListView(APIView):
    @extend_schema(
        operation_id="api_users_list",
        parameters=[
            *WINDOW_PARAMETERS,
            _ordering_parameter(people.USER_ORDERINGS, "-last_seen"),
            *PAGE_PARAMETERS,
        ],
        responses={
            200: capped_page(shapes.UserSerializer, name="PaginatedUserList"),
            **error_responses(400, *READ_ERRORS),
        },
    )
    def get(self, request):
        return _list(
            request,
            lister=people.user_list,
            orderings=people.USER_ORDERINGS,
            default="-last_seen",
            shape=shapes.UserSerializer,
        )


class UserDetailView(APIView):
    @extend_schema(
        parameters=[p for p in WINDOW_PARAMETERS if p.name != "user_id"],
        responses={200: shapes.UserDetailSerializer, **error_responses(400, 404, *READ_ERRORS)},
    )
    def get(self, request, user_id: str):
        params = {key: value for key, value in request.query_params.items() if key != "user_id"}
        filters = people.people_filters(params=params)
        found = people.user_detail(filters=filters, user_id=user_id)
        if found is None:
            raise NotFound("No calls with this user_id.")
        return Response(shapes.UserDetailSerializer(found).data)
