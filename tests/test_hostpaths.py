"""Finding KITT's own container and mapping a path through its mounts (kitt/engines/hostpaths.py), from
mount tables as Docker 20.10 leaves them: inside a container, and on a host that runs containers."""

from pathlib import Path

from kitt.engines import hostpaths

ID = "4e19ad4ff793abe3f4c0343cd8c85a8376d8e3b0b6b2e567aea76fd9c985d2eb"
IN_A_CONTAINER = f"""\
77 70 0:52 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X
96 77 254:0 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw
97 77 254:0 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw
98 77 254:0 /tmp/models /models ro,relatime - ext4 /dev/vda rw
"""
ON_A_HOST = f"""\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
301 22 0:60 / /var/lib/docker/containers/{ID}/mounts/shm rw,nosuid - tmpfs shm rw,size=65536k
"""


def test_its_own_container_is_the_source_of_etc_hostname(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(IN_A_CONTAINER)
    assert hostpaths.own_container_id(mountinfo) == ID
    mountinfo.write_text(ON_A_HOST)  # a host lists its containers' mounts too: it is in none of them
    assert hostpaths.own_container_id(mountinfo) is None
    assert hostpaths.own_container_id(tmp_path / "missing") is None


def test_a_path_maps_through_the_longest_mount_that_holds_it():
    mounts = [
        {"Destination": "/models", "Source": "/srv/models"},
        {"Destination": "/models/big", "Source": "/mnt/big"},
        {"Destination": "/app/kitt-results", "Source": "/home/me/kitt-results"},
    ]
    assert hostpaths.through_mounts(Path("/models/a.gguf"), mounts) == Path("/srv/models/a.gguf")
    assert hostpaths.through_mounts(Path("/models/big/b.gguf"), mounts) == Path("/mnt/big/b.gguf")
    assert hostpaths.through_mounts(Path("/elsewhere/c.gguf"), mounts) == Path("/elsewhere/c.gguf")
