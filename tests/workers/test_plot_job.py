import csv
import io
import math
from collections.abc import Callable

from PIL import Image
from quart.testing import QuartClient

from tests.workers.helpers import add_series, job, submit


async def test_plot_job_end_to_end(client: QuartClient, run_worker: Callable[..., None]) -> None:
    await add_series(
        client,
        "temp:austin",
        [[t * 1000, t % 100] for t in range(20_000)],
        city="austin",
        kind="temp",
    )
    await add_series(
        client,
        "temp:boston",
        [[t * 1000, -t % 50] for t in range(20_000)],
        city="boston",
        kind="temp",
    )
    submitted = await submit(
        client, "plot", filter=["kind=temp"], width=500, height=300, title="Temperatures"
    )
    assert submitted["status"] == "queued"
    assert submitted["params"]["keys"] == ["temp:austin", "temp:boston"]

    run_worker()

    done = await job(client, submitted["id"])
    assert done["status"] == "finished", done
    assert done["progress"] == {"percent": 100, "message": "done"}
    assert done["worker"]
    assert done["started_at"] >= done["created_at"]
    assert done["ended_at"] >= done["started_at"]
    assert [f["name"] for f in done["files"]] == ["data.csv", "plot.html", "plot.png"]

    result = await (await client.get(done["links"]["result"])).get_json()
    assert result["samples_in_range"] == 40_000
    assert result["aggregation"] == "avg"  # 20,000 points on 500 px: one bucket per pixel
    assert result["bucket_ms"] == math.ceil((19_999_000 + 1) / 500)
    assert all(s["point_count"] <= 500 for s in result["series"])

    png = await client.get(f"/v1/jobs/{submitted['id']}/files/plot.png")
    assert png.status_code == 200
    assert png.mimetype == "image/png"
    image = Image.open(io.BytesIO(await png.get_data()))
    assert image.size == (500, 300)
    low, high = image.convert("L").getextrema()
    assert high - low > 100  # something was drawn

    page = await client.get(f"/v1/jobs/{submitted['id']}/files/plot.html")
    html = await page.get_data(as_text=True)
    assert page.mimetype == "text/html"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "<title>Temperatures</title>" in html
    assert "temp:austin" in html and "temp:boston" in html
    assert "Bokeh" in html

    rows = list(
        csv.DictReader(
            io.StringIO(
                await (await client.get(f"/v1/jobs/{submitted['id']}/files/data.csv")).get_data(
                    as_text=True
                )
            )
        )
    )
    assert {r["key"] for r in rows} == {"temp:austin", "temp:boston"}
    first = next(r for r in rows if r["key"] == "temp:austin")
    assert first["t"] == "0" and float(first["v"]) == sum(t % 100 for t in range(40)) / 40


async def test_small_ranges_are_plotted_raw_and_html_only(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    await add_series(client, "s", [[t, t * t] for t in range(1, 101)])
    submitted = await submit(
        client,
        "plot",
        keys=["s"],
        formats=["html"],
        kind="scatter",
        log_y=True,
        **{"from": 10, "to": 60},
    )
    run_worker()
    done = await job(client, submitted["id"])
    assert [f["name"] for f in done["files"]] == ["data.csv", "plot.html"]
    result = await (await client.get(done["links"]["result"])).get_json()
    assert result["aggregation"] is None
    assert result["series"] == [{"key": "s", "point_count": 51}]
    assert (result["from"], result["to"]) == (10, 60)


async def test_titles_and_keys_cannot_inject_html(
    client: QuartClient, run_worker: Callable[..., None]
) -> None:
    await add_series(client, "x", [[1, 1], [2, 2]], note="<script>alert`1`</script>")
    submitted = await submit(
        client,
        "plot",
        keys=["x"],
        formats=["html"],
        title="<script>alert('t')</script>",
        y_label="<img src=x onerror=1>",
    )
    run_worker()
    html = await (await client.get(f"/v1/jobs/{submitted['id']}/files/plot.html")).get_data(
        as_text=True
    )
    assert "<script>alert(" not in html
    assert "<script>alert`1`" not in html
    assert "<img src=x" not in html
