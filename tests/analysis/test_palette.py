"""Class colours: distinct up to twenty classes, the same in the charts and the movie's GIF."""

from explorer.analysis import palette


def test_up_to_twenty_classes_get_distinct_colours_and_the_21st_starts_again():
    for n in (2, 10, 11, 20):
        assert len({palette.class_colour(k, n) for k in range(n)}) == n
    assert palette.classes(10) == palette.CLASS and len(palette.classes(11)) == 20
    assert palette.class_colour(20, 21) == palette.class_colour(0, 21)
