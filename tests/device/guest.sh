#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/device/guest.sh - run static test binaries inside a QEMU guest that has
# an emulated NVMe controller, from Debian packages only (docs/architecture.md, "How it is
# tested").
#
#   guest.sh prepare CACHE [--kernel 6.1|6.12]
#       Download a Debian kernel image package once (apt-get download +
#       dpkg -x) into CACHE: bookworm's 6.1 (default) or 6.12 (bookworm-backports,
#       linux-image-6.12.*+deb12-amd64), and pick out the vmlinuz and the
#       modules the modes below load, with the modules they depend on
#       (decompressed: busybox insmod takes no .ko.xz).  Prints the kernel release.
#   guest.sh initrd CACHE OUT.cpio.gz [--dynamic FILE]... BINARY...
#       Build a busybox initramfs holding the modules, the binaries and /init.
#       --dynamic FILE: a dynamically linked program or shared object, put in
#       /bin like the binaries, with the shared libraries ldd lists for it
#       (and the dynamic loader) at their host paths.
#   guest.sh boot CACHE INITRD LOG [options]
#       Boot one guest, wait for it to power off, and print what the guest's
#       test binary printed (its case lines and trailer), then
#       "guest-boot: <seconds> s to the first test line" and
#       "guest-dma-faults: N" (DMAR / IOMMU fault lines in the guest's kernel log).
#       Exit status: the test binary's, or 99 when the guest did not report one.
#     options:
#       --mode vfio|phys|none|kernel|tcp  vfio: vIOMMU + vfio-pci (default);
#                           phys: no IOMMU, uio_pci_generic, hugetlb pages reserved;
#                           none: no IOMMU, the controller left unbound;
#                           kernel: no IOMMU, the kernel's nvme driver (REGBUF_NG=/dev/ng0n1,
#                           REGBUF_BLK=/dev/nvme0n1 for the binary);
#                           tcp: the controller left unbound, a 1 GiB memory-backed null_blk
#                           exported by nvmet-tcp on 127.0.0.1:4420 and attached through
#                           /dev/nvme-fabrics (REGBUF_NG, REGBUF_BLK, REGBUF_FABRICS=tcp,
#                           REGBUF_NVMET_PORT, REGBUF_NVMET_NQN, and REGBUF_FABRICS_DOWN /
#                           _UP, shell commands taking the subsystem off the port and back)
#       --bin NAME          binary in the initramfs to run (default device-nvme)
#       --args "A B"        its arguments (case names), no commas
#       --env K=V           environment for the binary (repeatable; no spaces)
#       --append P          a parameter for the guest kernel's command line (repeatable;
#                           no spaces); MODULE.PARAM=V reaches the modules /init loads, as
#                           modprobe would pass it, e.g. nvme.poll_queues=2
#       --nvme PROPS        extra -device nvme properties, e.g. mdts=2,max_ioqpairs=2
#       --lbs N             logical block size of the namespace (512 or 4096)
#       --image FILE        backing image (default: a fresh sparse 256 MiB file)
#       --blkdebug FILE     put QEMU's blkdebug driver with this config over the image
#       --drive SPEC        the whole -drive value instead (id must be nvm), e.g. null-co
#       --timeout S         kill the guest after S seconds (default 600)
#       --smp N             vCPUs (default 2)
#       --mem SIZE          guest RAM, QEMU -m syntax (default 1G)
#       --ns PROPS          extra nvme-ns properties of namespace 1, e.g.
#                           zoned=true,zoned.zone_size=512K
#       --ns-more PROPS     one more namespace (nsid 2, 3, ... in order; a fresh 64 MiB
#                           image each, blocks of --lbs) with these extra nvme-ns properties, e.g.
#                           ms=8,pi=1 (8 bytes of metadata per block, protection
#                           information Type 1)
#
#   guest.sh pair CACHE INITRD LOG [options]
#       Two guests joined by a QEMU socket network (virtio-net; the wire is a
#       TCP connection between the two QEMU processes on the host's loopback,
#       the guests' addresses IPv4 link-local): the target (mode target) binds
#       QEMU's NVMe controller to the kernel's nvme driver and exports
#       /dev/nvme0n1 with nvmet over TCP, or over RDMA on a soft RoCE device
#       (rdma_rxe, added with iproute2's rdma, which the initramfs must hold);
#       the host (mode host) attaches it through /dev/nvme-fabrics and runs the
#       binary (REGBUF_NG, REGBUF_BLK, REGBUF_FABRICS=tcp|rdma, and
#       REGBUF_FABRICS_DOWN / _UP taking the host's link down and up).  Prints
#       as boot does, with the target's and the connection's lines first; the
#       target is stopped when the host powers off.
#     options: --transport tcp|rdma (default tcp), --bin, --args, --env,
#       --timeout, --image, --blkdebug as for boot (the image is the target's,
#       default a fresh sparse 1 GiB file), --mem SIZE (the host's RAM),
#       --target-mem SIZE (the target's, default 1G).
#
# --bin A,B runs each binary in turn (the result is the first failure's).
# The guest runs the binary with REGBUF_NVME_DEVICE=<BDF> and REGBUF_NVME_MODE
# in its environment.  Under no KVM (the default here) everything is emulated
# by TCG, which is slow but real: the NVMe controller and the VT-d IOMMU are
# QEMU's own implementations.
set -euo pipefail

# Modules by path under the package's kernel/ directory.  Those a module
# depends on (its .modinfo "depends=") are picked out too, and /init loads them
# first, so the lists name what each mode loads, not every dependency; a
# leading '?' marks a module that one of the kernels builds in (no file).
MODULES_VFIO="virt/lib/irqbypass drivers/vfio/vfio drivers/vfio/vfio_iommu_type1
	?drivers/vfio/vfio_virqfd drivers/vfio/pci/vfio-pci-core drivers/vfio/pci/vfio-pci"
MODULES_UIO="drivers/uio/uio drivers/uio/uio_pci_generic"
# mode kernel: the kernel's nvme driver (passthrough on /dev/ngXnY); on 6.1 the
# checksum helpers of t10-pi are modules, and the crypto ones are reached only
# through crypto_alloc_shash() (no "depends=" names them): listed, in load order.
MODULES_NVME="?lib/crc64 ?crypto/crc64_rocksoft_generic ?lib/crc64-rocksoft
	?crypto/crct10dif_common ?crypto/crct10dif_generic ?lib/crc-t10dif ?block/t10-pi
	drivers/nvme/host/nvme-core drivers/nvme/host/nvme"
# mode tcp: an nvmet target on 127.0.0.1 over null_blk, and the nvme-tcp host
MODULES_TCP="fs/configfs/configfs drivers/block/null_blk/null_blk drivers/nvme/host/nvme-fabrics
	drivers/nvme/host/nvme-tcp drivers/nvme/target/nvmet drivers/nvme/target/nvmet-tcp"
# modes target and host (two guests): a network card, and NVMe over RDMA on
# the soft RoCE device rdma_rxe, whose packet checksum (ICRC) is the crypto
# API's "crc32" (crypto_alloc_shash(): without crc32_generic loaded, "rdma link
# add" fails with ENOENT)
MODULES_NET="?drivers/virtio/virtio_pci drivers/net/virtio_net"
MODULES_RDMA="crypto/crc32_generic drivers/infiniband/sw/rxe/rdma_rxe drivers/nvme/host/nvme-rdma
	drivers/nvme/target/nvmet-rdma"
# mode none: an ext4 scratch filesystem on a loop device (O_DIRECT files for the uring suite)
MODULES_FS="drivers/block/loop lib/crc16 crypto/crc32c_generic fs/mbcache fs/jbd2/jbd2 fs/ext4/ext4"
MODULES_ALL="$MODULES_VFIO $MODULES_UIO $MODULES_FS $MODULES_NVME $MODULES_TCP $MODULES_NET
	$MODULES_RDMA"

die() {
	echo "guest.sh: $*" >&2
	exit 99
}

# The Debian kernel package of @series (6.1 or 6.12): the one its metapackage
# (linux-image-amd64 for bookworm's 6.1, linux-image-6.12-amd64 from
# bookworm-backports / -security) points at, else the newest the archive lists.
kernel_package() {
	local series=$1 meta re pkg
	case $series in
	6.1) meta=linux-image-amd64 re='linux-image-6\.1\.0-[0-9]+-amd64' ;;
	6.12) meta=linux-image-6.12-amd64 re='linux-image-6\.12\.[0-9]+\+deb12-amd64' ;;
	*) return 1 ;;
	esac
	pkg=$(apt-cache depends "$meta" 2>/dev/null |
		sed -En "s/^ *Depends: ($re)\$/\1/p" | head -n 1)
	if [ -z "$pkg" ]; then
		pkg=$(apt-cache search --names-only "^$re\$" 2>/dev/null |
			awk '{print $1}' | sort -V | tail -n 1)
	fi
	[ -n "$pkg" ] || return 1
	echo "$pkg"
}

# A module's .modinfo field @2 ("depends", "softdep") from file @1 (.ko or .ko.xz).
modinfo_field() {
	case $1 in
	*.xz) xz -dc "$1" ;;
	*) cat "$1" ;;
	esac | tr '\0' '\n' | sed -n "s/^$2=//p" | head -n 1
}

cmd_prepare() {
	local cache=$1 series=6.1 pkg deb rel m src name dep want
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--kernel) series=$2 ;;
		*) die "unknown option $1" ;;
		esac
		shift 2
	done
	case $series in 6.1 | 6.12) ;; *) die "--kernel takes 6.1 or 6.12, not $series" ;; esac
	mkdir -p "$cache"
	if [ -f "$cache/ready" ] && [ -f "$cache/modules/deps" ]; then
		# a cache made before a module was added to the lists is made again
		local missing=
		for m in $MODULES_ALL; do
			case $m in \?*) continue ;; esac
			[ -f "$cache/modules/$(basename "$m").ko" ] || missing=$m
		done
		if [ -z "$missing" ] && grep -q "^$series\." "$cache/ready"; then
			cat "$cache/ready"
			return 0
		fi
	fi
	rm -f "$cache/ready"
	pkg=$(kernel_package "$series") || {
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(kernel_package "$series")
	} || die "no Debian $series kernel image package in the apt archive (apt-get update?)"
	rm -rf "$cache/pkg" "$cache/x" "$cache/modules"
	mkdir -p "$cache/pkg"
	(cd "$cache/pkg" && apt-get download -qq "$pkg" >/dev/null 2>&1) ||
		die "apt-get download $pkg failed"
	deb=$(find "$cache/pkg" -name '*.deb' | head -n 1)
	dpkg -x "$deb" "$cache/x" || die "dpkg -x $deb failed"
	rel=$(find "$cache/x/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | head -n 1)
	cp "$cache/x/boot/vmlinuz-$rel" "$cache/vmlinuz"
	mkdir -p "$cache/modules"
	# every module of the package by name, for the dependencies
	find "$cache/x/lib/modules/$rel/kernel" -name '*.ko*' |
		sed -E 's|^(.*/([^/]*)\.ko(\.xz)?)$|\2 \1|' >"$cache/index"
	want=
	for m in $MODULES_ALL; do
		src=$cache/x/lib/modules/$rel/kernel/${m#\?}.ko
		if [ -f "$src" ] || [ -f "$src.xz" ]; then
			want+=" $(basename "$m")"
		elif [ "${m#\?}" = "$m" ]; then
			die "module $m missing from $pkg"
		fi
	done
	: >"$cache/modules/deps"
	# shellcheck disable=SC2086 # a word list
	set -- $want
	while [ $# -gt 0 ]; do
		name=$1
		shift
		[ -f "$cache/modules/$name.ko" ] && continue
		src=$(awk -v n="$name" '$1 == n { print $2; exit }' "$cache/index")
		[ -n "$src" ] || die "module $name (a dependency) missing from $pkg"
		# busybox insmod cannot load compressed modules
		case $src in
		*.xz) xz -dc "$src" >"$cache/modules/$name.ko" ;;
		*) cp "$src" "$cache/modules/$name.ko" ;;
		esac
		dep=$(modinfo_field "$cache/modules/$name.ko" depends)
		echo "$name: ${dep//,/ }" >>"$cache/modules/deps"
		# shellcheck disable=SC2086 # a word list
		set -- "$@" ${dep//,/ }
	done
	rm -rf "$cache/x" "$cache/pkg" "$cache/index"
	echo "$rel ($pkg)" >"$cache/ready"
	cat "$cache/ready"
}

cmd_initrd() {
	local cache=$1 out=$2 root b dyn=()
	shift 2
	while [ "${1:-}" = --dynamic ]; do
		[ $# -ge 2 ] || die "--dynamic needs a file"
		dyn+=("$2")
		shift 2
	done
	[ -f "$cache/ready" ] || die "run 'guest.sh prepare $cache' first"
	root=$(mktemp -d)
	# mktemp -d is 0700, and cpio carries that to the guest's / : an
	# unprivileged process (the uring suite's memlock children) could not
	# even reach /proc.
	chmod 0755 "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules,mnt/huge}
	cp /bin/busybox "$root/bin/busybox"
	file -L "$root/bin/busybox" 2>/dev/null | grep -q 'statically linked' ||
		die "/bin/busybox is not static (install busybox-static)"
	cp "$cache"/modules/*.ko "$cache/modules/deps" "$root/lib/modules/"
	for b in "$@"; do
		cp "$b" "$root/bin/"
	done
	local lib
	for b in ${dyn[@]+"${dyn[@]}"}; do
		cp "$b" "$root/bin/"
		# "libx.so.1 => /lib/.../libx.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
		for lib in $(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
	cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo "REGBUF-INIT uptime $(cut -d' ' -f1 /proc/uptime)"
: "${REGBUF_NVME_MODE:=vfio}" "${REGBUF_BIN:=device-nvme}"
# MODULE.PARAM=V words of the kernel command line, as modprobe hands them to a module
modargs() { for w in $(cat /proc/cmdline); do case $w in "$(echo "$1" | tr - _)".*=*) echo "${w#*.}" ;; esac; done; }
# load MODULE...: each after what it depends on, with its parameters from the
# command line; one the kernel built in (no file) or already loaded is passed over
load() {
	local m
	for m in "$@"; do
		[ -f /lib/modules/$m.ko ] && [ ! -d /sys/module/$(echo $m | tr - _) ] || continue
		load $(sed -n "s/^$m: //p" /lib/modules/deps)
		insmod /lib/modules/$m.ko $(modargs $m)
	done
}
# namespaces are scanned asynchronously after the driver binds
wait_dev() { i=0; while [ ! -e "$1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	echo "REGBUF-DEV $1 $([ -e "$1" ] && echo present || echo missing) after $i polls"; }
# Two guests on one wire (guest.sh pair): IPv4 link-local addresses, which
# no router forwards; the wire is QEMU's socket netdev between the two QEMU
# processes on the host's loopback.
TARGET_IP=169.254.0.1 HOST_IP=169.254.0.2
NQN=nqn.2026-11.org.regbuf:fabrics NVMET=/sys/kernel/config/nvmet
# net_up ADDR: eth0 (virtio-net) up with ADDR, and for RDMA a soft RoCE device on it
net_up() {
	load virtio_pci virtio_net
	[ "$REGBUF_TRANSPORT" = rdma ] && load crc32_generic rdma_rxe
	ip link set lo up
	ip addr add $1/16 dev eth0 && ip link set eth0 up
	if [ "$REGBUF_TRANSPORT" = rdma ]; then
		rdma link add rxe0 type rxe netdev eth0 ||
			echo "REGBUF-FABRICS rdma link add rxe0 failed"
	fi
}
# nvmet_export DEV TRTYPE ADDR: subsystem $NQN with DEV as namespace 1 on port 1
nvmet_export() {
	nvmet_port=$NVMET/ports/1
	mount -t configfs none /sys/kernel/config 2>/dev/null
	mkdir $NVMET/subsystems/$NQN
	echo 1 >$NVMET/subsystems/$NQN/attr_allow_any_host
	mkdir $NVMET/subsystems/$NQN/namespaces/1
	echo $1 >$NVMET/subsystems/$NQN/namespaces/1/device_path
	echo 1 >$NVMET/subsystems/$NQN/namespaces/1/enable
	mkdir $nvmet_port
	echo $2 >$nvmet_port/addr_trtype
	echo ipv4 >$nvmet_port/addr_adrfam
	echo $3 >$nvmet_port/addr_traddr
	echo 4420 >$nvmet_port/addr_trsvcid
	ln -s $NVMET/subsystems/$NQN $nvmet_port/subsystems/$NQN
}
# fabrics_connect TRTYPE ADDR: attach $NQN, retrying for up to 120 s while the
# target boots; short timeouts so errors come within seconds when the target
# goes away (the defaults queue I/O for up to ctrl_loss_tmo=600 s)
fabrics_connect() {
	local t0=$(cut -d' ' -f1 /proc/uptime) n=0
	until echo "transport=$1,traddr=$2,trsvcid=4420,nqn=$NQN,fast_io_fail_tmo=2,ctrl_loss_tmo=60,reconnect_delay=1" \
		>/dev/nvme-fabrics 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 120 ] || return 1
		sleep 1
	done
	wait_dev /dev/ng0n1
	echo "REGBUF-FABRICS $1 connected after $n retries, $t0 .. $(cut -d' ' -f1 /proc/uptime) s uptime"
	export REGBUF_NG=/dev/ng0n1 REGBUF_BLK=/dev/nvme0n1 REGBUF_FABRICS=$1
}
bdf=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/class)" = 0x010802 ] && { bdf=${d##*/}; break; }
done
drv=
case $REGBUF_NVME_MODE in
vfio)	load irqbypass vfio vfio_iommu_type1 vfio_virqfd vfio-pci-core vfio-pci; drv=vfio-pci ;;
phys)	load uio uio_pci_generic; drv=uio_pci_generic ;;
kernel)	load crc64 crc64_rocksoft_generic crc64-rocksoft crct10dif_common crct10dif_generic \
		crc-t10dif t10-pi nvme-core nvme
	wait_dev /dev/ng0n1
	# the kernel names namespaces in the order it finds them: NSID 1 may be
	# nvme0n3 (6.12 with several namespaces), so it is looked up by its nsid
	i=0
	while [ $i -lt 50 ]; do
		for f in /sys/block/nvme0n*/nsid; do
			[ "$(cat "$f" 2>/dev/null)" = 1 ] && ns1=${f%/nsid} && ns1=${ns1##*/nvme}
		done
		[ -n "${ns1:-}" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	export REGBUF_NG=/dev/ng${ns1:-0n1} REGBUF_BLK=/dev/nvme${ns1:-0n1} ;;
tcp)	load crc64 crc64_rocksoft_generic crc64-rocksoft crct10dif_common crct10dif_generic \
		crc-t10dif t10-pi nvme-core configfs nvme-fabrics nvme-tcp nvmet nvmet-tcp
	ip link set lo up
	# null_blk's module parameters make nullb0; memory_backed keeps the data
	# 20 ms per I/O (timer completion): long enough to be in flight when the
	# test takes the target away
	insmod /lib/modules/null_blk.ko nr_devices=1 gb=1 bs=512 memory_backed=1 irqmode=2 \
		completion_nsec=20000000
	nvmet_export /dev/nullb0 tcp 127.0.0.1
	fabrics_connect tcp 127.0.0.1 ||
		echo "REGBUF-FABRICS connect failed"
	# the test takes the target away and brings it back through the port's link
	export REGBUF_NVMET_PORT=$nvmet_port REGBUF_NVMET_NQN=$NQN \
		REGBUF_FABRICS_DOWN="rm $nvmet_port/subsystems/$NQN" \
		REGBUF_FABRICS_UP="ln -s $NVMET/subsystems/$NQN $nvmet_port/subsystems/$NQN" ;;
target)	# two guests: export QEMU's NVMe namespace (the kernel nvme driver's
	# /dev/nvme0n1) over the network, and serve until the guest is killed
	load crc64 crc64_rocksoft_generic crc64-rocksoft crct10dif_common crct10dif_generic \
		crc-t10dif t10-pi nvme configfs nvmet nvmet-$REGBUF_TRANSPORT
	net_up $TARGET_IP
	wait_dev /dev/nvme0n1
	nvmet_export /dev/nvme0n1 $REGBUF_TRANSPORT $TARGET_IP
	# a control port for the host's test: "down" takes the subsystem off the
	# nvmet port, "up" puts it back (as REGBUF_FABRICS_DOWN/_UP in mode tcp)
	printf '#!/bin/sh\nread cmd\ncase $cmd in\ndown) rm %s ;;\nup) ln -s %s %s ;;\nesac\necho "$cmd: $?"\n' \
		"$nvmet_port/subsystems/$NQN" "$NVMET/subsystems/$NQN" "$nvmet_port/subsystems/$NQN" \
		>/bin/nvmet-ctl
	chmod +x /bin/nvmet-ctl
	nc -ll -p 4000 -e /bin/nvmet-ctl &
	echo "REGBUF-TARGET ready: /dev/nvme0n1 on $REGBUF_TRANSPORT $TARGET_IP:4420, uptime $(cut -d' ' -f1 /proc/uptime)"
	while :; do sleep 3600; done ;;
host)	# two guests: attach the other guest's namespace over the network
	load crc64 crc64_rocksoft_generic crc64-rocksoft crct10dif_common crct10dif_generic \
		crc-t10dif t10-pi nvme-core nvme-fabrics nvme-$REGBUF_TRANSPORT
	net_up $HOST_IP
	fabrics_connect $REGBUF_TRANSPORT $TARGET_IP ||
		echo "REGBUF-FABRICS connect failed"
	if [ "$REGBUF_TRANSPORT" = tcp ]; then
		# the test pulls the cable: the link goes down under the host's queues
		export REGBUF_FABRICS_DOWN="ip link set eth0 down" REGBUF_FABRICS_UP="ip link set eth0 up"
	else
		# Over rdma_rxe the host never reconnects after a link flap: its
		# reconnect attempts fail (rdma_resolve_addr -101) while the link is
		# down, and the first one after the link is back never completes
		# (6.12.118; the controller stays "connecting").  The target takes
		# the subsystem off its port instead, told over the control port.
		ctl="nc -w 10 $TARGET_IP 4000 | grep -q"
		export REGBUF_FABRICS_DOWN="echo down | $ctl 'down: 0'" \
			REGBUF_FABRICS_UP="echo up | $ctl 'up: 0'"
	fi ;;
none)	load loop crc16 crc32c_generic mbcache jbd2 ext4
	truncate -s 192M /tmp/scratch.img
	losetup /dev/loop0 /tmp/scratch.img 2>/dev/null ||
		{ mknod /dev/loop0 b 7 0; losetup /dev/loop0 /tmp/scratch.img; }
	mkdir -p /mnt/scratch
	mke2fs -q /dev/loop0 && mount -t ext4 /dev/loop0 /mnt/scratch && cd /mnt/scratch ;;
esac
# 2 MiB hugetlb pages for the tests' arenas (and, in phys mode, the driver's queues)
echo "${REGBUF_HUGEPAGES:-64}" >/proc/sys/vm/nr_hugepages
mount -t hugetlbfs none /mnt/huge
if [ -n "$bdf" ] && [ -n "$drv" ]; then
	echo $drv >/sys/bus/pci/devices/$bdf/driver_override
	echo $bdf >/sys/bus/pci/drivers_probe
	echo "REGBUF-BOUND $bdf to $(basename $(readlink /sys/bus/pci/devices/$bdf/driver) 2>/dev/null)"
fi
export REGBUF_NVME_DEVICE=$bdf
echo "REGBUF-BEGIN uptime $(cut -d' ' -f1 /proc/uptime)"
# REGBUF_BIN=a,b: each in turn; the first failure's status is the result
rc=0
for b in $(echo $REGBUF_BIN | tr , ' '); do
	/bin/$b $(echo "${REGBUF_ARGS:-}" | tr , ' ') </dev/null
	r=$?
	[ $rc != 0 ] || rc=$r
done
# REGBUF_EXAMPLE=NAME: then run examples/NAME.c (static) on the same device,
# with LBA 1024, as one case of its own.
if [ -n "${REGBUF_EXAMPLE:-}" ] && [ -n "$bdf" ]; then
	if /bin/$REGBUF_EXAMPLE $bdf 1024 </dev/null; then
		echo "ok example_$REGBUF_EXAMPLE"
	else
		echo "FAIL example_$REGBUF_EXAMPLE: exit $?"
	fi
fi
echo "REGBUF-RESULT $rc uptime $(cut -d' ' -f1 /proc/uptime)"
echo "REGBUF-DMESG-BEGIN"
dmesg
echo "REGBUF-DMESG-END"
sync
poweroff -f
EOF
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
	mv "$out.tmp" "$out"
	rm -rf "$root"
}

cmd_boot() {
	local cache=$1 initrd=$2 log=$3
	shift 3
	local mode=vfio bin=device-nvme args="" envs=() params=() nvme="" lbs=512 image="" blkdebug=""
	local dspec=""
	local ns1="" nsx=() nsimgs=() img i
	local timeout_s=600 smp=2 mem=1G tmpimg="" append drive ns accel
	while [ $# -gt 0 ]; do
		case $1 in
		--mode) mode=$2 ;;
		--bin) bin=$2 ;;
		--args) args=$2 ;;
		--env) envs+=("$2") ;;
		--append) params+=("$2") ;;
		--nvme) nvme=$2 ;;
		--lbs) lbs=$2 ;;
		--image) image=$2 ;;
		--blkdebug) blkdebug=$2 ;;
		--drive) dspec=$2 ;;
		--timeout) timeout_s=$2 ;;
		--smp) smp=$2 ;;
		--mem) mem=$2 ;;
		--ns) ns1=$2 ;;
		--ns-more) nsx+=("$2") ;;
		*) die "unknown option $1" ;;
		esac
		shift 2
	done
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
	if [ -z "$image" ]; then
		tmpimg=$(mktemp /tmp/regbuf-nvme-img.XXXXXX)
		truncate -s 256M "$tmpimg"
		image=$tmpimg
	fi
	# no_timer_check: under TCG on a loaded host the guest kernel's IO-APIC
	# timer check (timer_irq_works()) can miss its ticks, and with interrupt
	# remapping on it then panics in setup_IO_APIC() before userspace runs.
	append="console=ttyS0 quiet panic=-1 no_timer_check REGBUF_NVME_MODE=$mode REGBUF_BIN=$bin"
	[ -n "$args" ] && append+=" REGBUF_ARGS=${args// /,}"
	local e
	for e in "${envs[@]}" "${params[@]}"; do
		append+=" $e"
	done
	local iommu=()
	if [ "$mode" = vfio ]; then
		# shellcheck disable=SC2054 # one -device argument: the commas are QEMU's
		iommu=(-device intel-iommu,intremap=on,caching-mode=on)
		append+=" intel_iommu=on"
	else
		append+=" intel_iommu=off"
	fi
	if [ -n "$dspec" ]; then
		drive=$dspec
	elif [ -n "$blkdebug" ]; then
		drive="driver=raw,if=none,id=nvm,discard=unmap,file.driver=blkdebug,file.config=$blkdebug,file.image.filename=$image"
	else
		drive="file=$image,if=none,id=nvm,format=raw,discard=unmap"
	fi
	ns="nvme-ns,drive=nvm,nsid=1,logical_block_size=$lbs,physical_block_size=$lbs${ns1:+,$ns1}"
	local second=()
	for ((i = 0; i < ${#nsx[@]}; i++)); do
		img=$(mktemp /tmp/regbuf-nvme-img2.XXXXXX)
		truncate -s 64M "$img"
		nsimgs+=("$img")
		second+=(-drive "file=$img,if=none,id=nvm$((i + 2)),format=raw"
			-device "nvme-ns,drive=nvm$((i + 2)),nsid=$((i + 2)),logical_block_size=$lbs,physical_block_size=$lbs,${nsx[i]}")
	done
	# TCG only: the brief for this machine says no KVM, and TCG behaves the same
	# everywhere the suite runs.
	accel=tcg
	local start end rc=0
	start=$(date +%s.%N)
	timeout --kill-after=5 "$timeout_s" qemu-system-x86_64 \
		-machine q35,kernel-irqchip=split -accel "$accel" -cpu max -smp "$smp" -m "$mem" \
		-nographic -no-reboot -nodefaults -serial stdio -monitor none \
		"${iommu[@]}" \
		-kernel "$cache/vmlinuz" -initrd "$initrd" -append "$append" \
		-drive "$drive" \
		-device "nvme,id=nvme0,serial=regbuf0${nvme:+,$nvme}" -device "$ns" "${second[@]}" \
		</dev/null >"$log" 2>&1 || rc=$?
	end=$(date +%s.%N)
	[ -n "$tmpimg" ] && rm -f "$tmpimg"
	for img in ${nsimgs[@]+"${nsimgs[@]}"}; do
		rm -f "$img"
	done
	report "$log" "$start" "$end" "$rc"
}

# report LOG START END QEMU-RC: the test binary's lines from a guest's serial
# log, the boot and DMA-fault lines; returns the binary's status (99: none).
report() {
	local log=$1 start=$2 end=$3 rc=$4
	tr -d '\r' <"$log" >"$log.clean" && mv "$log.clean" "$log"
	# The binary's own lines (between BEGIN and RESULT).
	sed -n '/^REGBUF-BEGIN/,/^REGBUF-RESULT/p' "$log" | grep -v '^REGBUF-' || true
	local first faults result
	first=$(sed -n 's/^REGBUF-BEGIN uptime \([0-9.]*\)$/\1/p' "$log")
	echo "guest-boot: ${first:-?} s guest uptime at the first test line; $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s wall for the whole boot"
	# VT-d fault reports of the 6.1 guest kernel (dmar_fault(), dmar_fault_do_one())
	local fault_re='DMAR: \[DMA|dmar_fault|DRHD: handling fault|IOMMU.* fault|PTE (Read|Write) access is not set|IO_PAGE_FAULT'
	faults=$(sed -n '/^REGBUF-DMESG-BEGIN/,/^REGBUF-DMESG-END/p' "$log" | grep -ciE "$fault_re" || true)
	echo "guest-dma-faults: $faults"
	if [ "$faults" != 0 ]; then
		sed -n '/^REGBUF-DMESG-BEGIN/,/^REGBUF-DMESG-END/p' "$log" |
			grep -iE "$fault_re" | head -n 5 | sed 's/^/guest-dmesg: /'
	fi
	result=$(sed -n 's/^REGBUF-RESULT \([0-9]*\).*/\1/p' "$log")
	if [ -z "$result" ]; then
		echo "guest-error: no result line (qemu exit $rc); last lines of $log:"
		tail -n 15 "$log" | sed 's/^/guest-log: /'
		return 99
	fi
	return "$result"
}

# guest.sh pair: two guests joined by a QEMU socket network on the host's
# loopback: a target exporting QEMU's NVMe namespace with nvmet, and a host
# attaching it with nvme-tcp or nvme-rdma and running the test binary.
cmd_pair() {
	local cache=$1 initrd=$2 log=$3
	shift 3
	local transport=tcp bin=device-passthru args="" envs=() timeout_s=600 mem=1G tmem=1G
	local image="" blkdebug="" tmpimg="" drive append common e
	while [ $# -gt 0 ]; do
		case $1 in
		--transport) transport=$2 ;;
		--bin) bin=$2 ;;
		--args) args=$2 ;;
		--env) envs+=("$2") ;;
		--timeout) timeout_s=$2 ;;
		--mem) mem=$2 ;;
		--target-mem) tmem=$2 ;;
		--image) image=$2 ;;
		--blkdebug) blkdebug=$2 ;;
		*) die "unknown option $1" ;;
		esac
		shift 2
	done
	case $transport in tcp | rdma) ;; *) die "--transport takes tcp or rdma" ;; esac
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
	if [ -z "$image" ]; then
		tmpimg=$(mktemp /tmp/regbuf-nvme-img.XXXXXX)
		truncate -s 1G "$tmpimg"
		image=$tmpimg
	fi
	if [ -n "$blkdebug" ]; then
		drive="driver=raw,if=none,id=nvm,file.driver=blkdebug,file.config=$blkdebug,file.image.filename=$image"
	else
		drive="file=$image,if=none,id=nvm,format=raw"
	fi
	common=(-machine q35 -accel tcg -cpu max -smp 2 -nographic -no-reboot -nodefaults
		-serial stdio -monitor none -kernel "$cache/vmlinuz" -initrd "$initrd")
	append="console=ttyS0 quiet panic=-1 no_timer_check intel_iommu=off REGBUF_TRANSPORT=$transport"
	# The target listens on a loopback port of the host; a port another
	# engineer's pair holds makes QEMU fail at once: try another.
	local port tpid start end rc=0 _
	start=$(date +%s.%N)
	for _ in 1 2 3 4 5 6 7 8; do
		port=$((20000 + RANDOM % 20000))
		timeout --kill-after=5 "$timeout_s" qemu-system-x86_64 "${common[@]}" -m "$tmem" \
			-append "$append REGBUF_NVME_MODE=target" \
			-netdev "socket,id=n0,listen=127.0.0.1:$port" \
			-device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01 \
			-drive "$drive" -device nvme,id=nvme0,serial=regbuf0 \
			-device nvme-ns,drive=nvm,nsid=1,logical_block_size=512,physical_block_size=512 \
			</dev/null >"$log.target" 2>&1 &
		tpid=$!
		sleep 2
		kill -0 "$tpid" 2>/dev/null && break
		wait "$tpid" 2>/dev/null
		grep -q 'Address already in use' "$log.target" || break
	done
	kill -0 "$tpid" 2>/dev/null || {
		[ -n "$tmpimg" ] && rm -f "$tmpimg"
		echo "guest-error: the target guest did not start:"
		tail -n 5 "$log.target" | sed 's/^/guest-target: /'
		return 99
	}
	for e in "${envs[@]}"; do
		append+=" $e"
	done
	append+=" REGBUF_NVME_MODE=host REGBUF_BIN=$bin"
	[ -n "$args" ] && append+=" REGBUF_ARGS=${args// /,}"
	timeout --kill-after=5 "$timeout_s" qemu-system-x86_64 "${common[@]}" -m "$mem" \
		-append "$append" \
		-netdev "socket,id=n0,connect=127.0.0.1:$port" \
		-device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:02 \
		</dev/null >"$log" 2>&1 || rc=$?
	end=$(date +%s.%N)
	# the target serves until it is stopped
	kill "$tpid" 2>/dev/null
	wait "$tpid" 2>/dev/null
	[ -n "$tmpimg" ] && rm -f "$tmpimg"
	tr -d '\r' <"$log.target" | grep -E '^REGBUF-(TARGET|FABRICS)|nvmet|rdma|rxe' |
		head -n 20 | sed 's/^/guest-target: /'
	grep -E '^REGBUF-FABRICS' "$log" | sed 's/^/guest-host: /'
	report "$log" "$start" "$end" "$rc"
}

[ $# -ge 1 ] || die "usage: guest.sh prepare|initrd|boot|pair ..."
sub=$1
shift
case $sub in
prepare) cmd_prepare "$@" ;;
initrd) cmd_initrd "$@" ;;
boot) cmd_boot "$@" ;;
pair) cmd_pair "$@" ;;
*) die "unknown command $sub" ;;
esac
