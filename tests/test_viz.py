"""Pictures and HTML of grounded chains: outlines where the boxes are, colours shared between both views."""

from __future__ import annotations

import html
import re

import pytest
from PIL import Image

from grit.boxes import Box, Frame
from grit.chain import parse
from grit.viz import (
    GT_COLORS,
    chain_html,
    chains_page,
    draw_boxes,
    draw_chain,
    image_data_uri,
    line_width,
    palette,
    text_color,
)

GREY = (128, 128, 128)
RED = (230, 25, 75)


def grey(w: int, h: int) -> Image.Image:
    return Image.new("RGB", (w, h), GREY)


def chain_text(*boxes: str, think_extra: str = "") -> str:
    inner = " then ".join(boxes)
    return f"<think>Look at {inner}.{think_extra}</think>\n<rethink>The boxes hold.</rethink>\n<answer>2</answer>"


def qbox(coords: str, label: str) -> str:
    return '{"bbox_2d": [' + coords + '], "label": "' + label + '"}'


# --------------------------------------------------------------------------------------------- palette


def test_palette_distinct_deterministic_and_prefix_stable():
    p = palette(60)
    assert len(set(p)) == 60
    assert palette(60) == p
    assert palette(5) == p[:5]
    assert palette(0) == []
    assert all(0 <= v <= 255 for c in p for v in c)
    assert GT_COLORS[0] not in p and GT_COLORS[1] not in p
    with pytest.raises(ValueError):
        palette(-1)


def test_text_color_contrast():
    assert text_color((255, 225, 25)) == (0, 0, 0)
    assert text_color((128, 0, 0)) == (255, 255, 255)


# --------------------------------------------------------------------------------------------- draw_boxes


def test_solid_outline_on_edges_not_inside():
    img = grey(200, 200)
    out = draw_boxes(img, [Box(40, 50, 160, 150)], colors=[RED], width=2)
    px = out.load()
    for xy in [(40, 100), (41, 100), (159, 100), (158, 100), (100, 50), (100, 51), (100, 149), (100, 148)]:
        assert px[xy] == RED, xy
    for xy in [(42, 100), (100, 100), (157, 100), (100, 52), (39, 100), (160, 100), (100, 49), (100, 150)]:
        assert px[xy] == GREY, xy
    assert img.getpixel((40, 100)) == GREY  # input left untouched
    assert out.mode == "RGB" and out.size == img.size


def test_dashed_outline_has_gaps_solid_has_none():
    box = Box(20, 20, 180, 180)
    solid = draw_boxes(grey(200, 200), [box], colors=[RED], width=2)
    dashed = draw_boxes(grey(200, 200), [box], colors=[RED], width=2, dashed=True)

    def frac_on_top_edge(im: Image.Image) -> float:
        return sum(im.getpixel((x, 20)) == RED for x in range(20, 180)) / 160

    assert frac_on_top_edge(solid) == 1.0
    assert 0.3 < frac_on_top_edge(dashed) < 0.7
    assert dashed.getpixel((100, 100)) == GREY


def region_colors(im: Image.Image, box: tuple[int, int, int, int]) -> set:
    return set(im.crop(box).getdata())


def test_label_tag_filled_in_box_colour_with_text():
    box = Box(100, 150, 300, 350)
    plain = draw_boxes(grey(400, 400), [box], colors=[RED])
    labelled = draw_boxes(grey(400, 400), [box], colors=[RED], labels=["cat"])
    above = (100, 120, 160, 150)
    assert region_colors(plain, above) == {GREY}
    seen = region_colors(labelled, above)
    assert RED in seen and text_color(RED) in seen


def test_labels_default_to_box_labels_and_colors_to_palette():
    out = draw_boxes(grey(400, 400), [Box(50, 100, 150, 200, "dog"), Box(200, 100, 350, 200)])
    p = palette(2)
    assert out.getpixel((50, 150)) == p[0] and out.getpixel((200, 150)) == p[1]
    assert p[0] in region_colors(out, (50, 80, 100, 100))  # tag of the labelled box
    assert region_colors(out, (200, 80, 260, 100)) == {GREY}  # unlabelled box: no tag


def test_tiny_image_long_label_and_clipping():
    img = grey(84, 84)
    boxes = [Box(5, 5, 40, 40), Box(-10, 60, 100, 100), Box(200, 200, 300, 300)]
    out = draw_boxes(img, boxes, labels=["a very long label that cannot fit on this image", "edge", "gone"])
    p = palette(3)
    assert out.size == (84, 84)
    assert line_width(out.size) == 1
    assert out.getpixel((20, 39)) == p[0]  # bottom edge of the first box (tag sits inside its top)
    assert out.getpixel((0, 70)) == p[1] and out.getpixel((83, 70)) == p[1]  # clipped to the image sides
    assert out.getpixel((40, 83)) == p[1]  # clipped bottom
    assert p[2] not in set(out.getdata())  # wholly outside: not drawn


def test_huge_image_scales_line_width():
    out = draw_boxes(grey(3000, 2000), [Box(100, 100, 2000, 1500, "x")], colors=[RED])
    lw = line_width(out.size)
    assert lw >= 8
    assert out.getpixel((100 + lw - 1, 800)) == RED and out.getpixel((100 + lw, 800)) == GREY


def test_draw_boxes_rejects_mismatched_labels_and_colors():
    with pytest.raises(ValueError, match="labels"):
        draw_boxes(grey(50, 50), [Box(1, 1, 9, 9)], labels=["a", "b"])
    with pytest.raises(ValueError, match="colors"):
        draw_boxes(grey(50, 50), [Box(1, 1, 9, 9)], colors=[RED, RED])


# --------------------------------------------------------------------------------------------- draw_chain


def test_draw_chain_maps_frame_and_upscales():
    # 100x50 image, boxes in the 0-1000 frame: [100, 200, 500, 600] -> pixels (10, 10, 50, 30)
    chain = parse(chain_text(qbox("100, 200, 500, 600", "ball")), Frame.norm1000(100, 50))
    assert chain.pixel_boxes()[0].xyxy == pytest.approx([10, 10, 50, 30])
    red = palette(1)[0]

    out = draw_chain(grey(100, 50), chain)
    assert out.size == (100, 50)
    assert out.getpixel((10, 20)) == red and out.getpixel((49, 20)) == red

    big = draw_chain(grey(100, 50), chain, upscale_to=400)  # factor 4
    assert big.size == (400, 200)
    lw = line_width(big.size)
    assert big.getpixel((40, 100)) == red and big.getpixel((199, 100)) == red  # x = 10*4, 50*4 - 1
    assert big.getpixel((120, 119)) == red and big.getpixel((120, 119 - lw)) == GREY  # bottom y = 30*4 - 1
    assert big.getpixel((36, 100)) == GREY and big.getpixel((204, 100)) == GREY

    assert draw_chain(grey(300, 300), chain, upscale_to=400).size == (300, 300)  # factor 1: unchanged
    assert "image pixels [10, 10, 50, 30]" in chain_html(chain)  # the tooltip shows where the box lands


def test_draw_chain_gt_dashed_neutral_and_only_valid_boxes():
    text = chain_text(
        qbox("10, 10, 60, 60", "a"), qbox("70, 70, 70, 90", "flat"), qbox("100, 100, 180, 180", "b")
    )
    chain = parse(text, Frame.pixels(200, 200))
    assert len(chain.boxes) == 3 and len(chain.invalid_boxes) == 1
    out = draw_chain(grey(200, 200), chain, gt_boxes=[Box(20, 120, 90, 190)])
    p = palette(2)
    assert out.getpixel((10, 30)) == p[0] and out.getpixel((100, 150)) == p[1]
    top_edge = [out.getpixel((x, 120)) for x in range(20, 90)]
    assert GT_COLORS[0] in top_edge and GT_COLORS[1] in top_edge
    assert palette(3)[2] not in set(out.getdata())  # the zero-area box gets no colour of its own


def test_draw_chain_labels_numbered():
    chain = parse(chain_text(qbox("20, 100, 120, 180", "cup")), Frame.pixels(200, 200))
    with_tag = draw_chain(grey(200, 200), chain)
    assert palette(1)[0] in region_colors(with_tag, (20, 80, 40, 100))


# --------------------------------------------------------------------------------------------- HTML

BOX_SPAN = re.compile(
    r'<span class="grit-box" data-box="(\d+)"[^>]*border-bottom: 2px solid (#[0-9a-f]{6})">(.*?)<sup'
)


def hexc(c: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*c)


def test_html_spans_in_palette_order_and_invalid_marked():
    text = chain_text(
        qbox("10, 10, 60, 60", "a"), qbox("70, 70, 70, 90", "flat"), qbox("100, 100, 180, 180", "b")
    )
    chain = parse(text, Frame.pixels(200, 200))
    out = chain_html(chain)
    found = BOX_SPAN.findall(out)
    valid = [cb for cb in chain.boxes if cb.box is not None]
    assert [(int(k), c) for k, c, _ in found] == [(1, hexc(palette(2)[0])), (2, hexc(palette(2)[1]))]
    assert [raw for _, _, raw in found] == [cb.raw for cb in valid]

    bad = chain.invalid_boxes[0]
    m = re.search(r'<span class="grit-box-invalid" title="([^"]*)">(.*?)</span>', out)
    assert m and m.group(2) == bad.raw
    assert "invalid box" in m.group(1) and bad.error and html.unescape(m.group(1)).endswith(bad.error)


def test_html_colours_match_drawn_boxes():
    text = chain_text(*(qbox(f"{20 * i}, 10, {20 * i + 15}, 190", f"o{i}") for i in range(1, 8)))
    chain = parse(text, Frame.pixels(200, 200))
    drawn = draw_chain(grey(200, 200), chain)
    html_colors = [c for _, c, _ in BOX_SPAN.findall(chain_html(chain))]
    picture_colors = [hexc(drawn.getpixel((round(b.x1), 100))) for b in chain.pixel_boxes()]
    assert len(html_colors) == 7 and html_colors == picture_colors


def test_html_escapes_text_and_separates_parts():
    text = (
        '<think>see <script>alert("x")</script> & ' + qbox("1, 2, 30, 40", "<b>x</b>") + "</think>"
        "<rethink>fine</rethink><answer>A & B</answer>"
    )
    out = chain_html(parse(text, Frame.pixels(50, 50)), title="<i>t</i>", image_src='a".png')
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "<b>x</b>" not in out and "<i>t</i>" not in out
    assert "A &amp; B" in out
    assert 'src="a&quot;.png"' in out
    i_think, i_re, i_ans = (out.index(f'class="grit-part grit-{n}"') for n in ("think", "rethink", "answer"))
    assert i_think < i_re < i_ans
    assert "grit-outside" not in out.split("</style>", 1)[1]  # only tags outside the parts: nothing shown


def test_html_shows_stray_text_and_malformed_chain():
    chain = parse("I refuse. <answer>3</answer> trailing", Frame.pixels(50, 50))
    out = chain_html(chain)
    assert 'class="grit-outside"' in out and "I refuse." in out and "trailing" in out
    assert "tags malformed" in out


def test_chains_page_collects_items():
    c1 = parse(chain_text(qbox("1, 1, 20, 20", "a")), Frame.pixels(50, 50))
    c2 = parse(chain_text(qbox("5, 5, 40, 40", "b")), Frame.pixels(50, 50))
    src = image_data_uri(draw_chain(grey(50, 50), c1))
    assert src.startswith("data:image/png;base64,")
    page = chains_page(
        [
            {"title": "first", "image_src": src, "chain": c1, "rows": {"score": 0.5, "gt": "<a>"}},
            {"title": "second", "chain": c2, "rows": [("correct", True)]},
        ],
        title="report",
    )
    assert page.startswith("<!doctype html>") and page.count("<style>") == 1
    assert page.index("first") < page.index("second")
    assert (
        "<td>score</td><td>0.5</td>" in page
        and "&lt;a&gt;" in page
        and "<td>correct</td><td>True</td>" in page
    )
    assert page.count('class="grit-chain"') == 2
    with pytest.raises(ValueError, match="item 0: unknown keys"):
        chains_page([{"chain": c1, "img": "x"}])
    with pytest.raises(ValueError, match="item 0: 'chain'"):
        chains_page([{"title": "no chain"}])
