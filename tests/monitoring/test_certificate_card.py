"""An endpoint's page has a certificate card only when its check sees TLS (an https:// URL)."""

from __future__ import annotations

from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.monitoring.factories import make_endpoint, make_state


def test_the_certificate_card_shows_for_https_checks_only(ctx: AppContext, cast: Cast) -> None:
    with ctx.session_factory() as session:
        make_endpoint(session, "shop-web", type="http", target="https://shop.example.internal/health", port=None)
        make_state(session, "shop-web")
        make_endpoint(session, "plain-web", type="http", target="http://plain.example.internal/", port=None)
        make_state(session, "plain-web")
        make_endpoint(session, "shop-db", type="tcp", target="10.0.0.5", port=5432)
        make_state(session, "shop-db")
        session.commit()
    tls = cast.viewer.get("/monitoring/endpoints/shop-web").text
    assert 'id="certificate"' in tls and "No certificate seen yet" in tls
    for slug in ("plain-web", "shop-db"):
        page = cast.viewer.get(f"/monitoring/endpoints/{slug}")
        assert page.status_code == 200 and 'id="certificate"' not in page.text and "Certificate" not in page.text
