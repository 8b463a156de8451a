#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/device/guest.sh - run static test binaries inside a QEMU guest that has
# an emulated NVMe controller, from Debian packages only (docs/architecture.md, "How it is
# tested").
#
#   guest.sh prepare CACHE
#       Download Debian's bookworm 6.1 kernel image package once (apt-get
#       download + dpkg -x) into CACHE and pick out the vmlinuz and the VFIO /
#       uio modules.  Prints the kernel release.
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
#                           /dev/nvme-fabrics (REGBUF_NG, REGBUF_BLK, REGBUF_NVMET_PORT,
#                           REGBUF_NVMET_NQN for the binary)
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
#       --ns2 PROPS         a second namespace (nsid 2, fresh 64 MiB image) with these
#                           extra nvme-ns properties, e.g. ms=8 (metadata per block)
#
# The guest runs the binary with REGBUF_NVME_DEVICE=<BDF> and REGBUF_NVME_MODE
# in its environment.  Under no KVM (the default here) everything is emulated
# by TCG, which is slow but real: the NVMe controller and the VT-d IOMMU are
# QEMU's own implementations.
set -euo pipefail

MODULES_VFIO="virt/lib/irqbypass drivers/vfio/vfio drivers/vfio/vfio_iommu_type1
	drivers/vfio/vfio_virqfd drivers/vfio/pci/vfio-pci-core drivers/vfio/pci/vfio-pci"
MODULES_UIO="drivers/uio/uio drivers/uio/uio_pci_generic"
# mode kernel: the kernel's nvme driver (passthrough on /dev/ngXnY); its checksum helpers
# first, in load order (t10-pi needs crc-t10dif and crc64-rocksoft).
MODULES_NVME="lib/crc64 crypto/crc64_rocksoft_generic lib/crc64-rocksoft crypto/crct10dif_common
	crypto/crct10dif_generic lib/crc-t10dif block/t10-pi drivers/nvme/host/nvme-core
	drivers/nvme/host/nvme"
# mode tcp: an nvmet target on 127.0.0.1 over null_blk, and the nvme-tcp host
MODULES_TCP="fs/configfs/configfs drivers/block/null_blk/null_blk drivers/nvme/host/nvme-fabrics
	drivers/nvme/host/nvme-tcp drivers/nvme/target/nvmet drivers/nvme/target/nvmet-tcp"
# mode none: an ext4 scratch filesystem on a loop device (O_DIRECT files for the uring suite)
MODULES_FS="drivers/block/loop lib/crc16 crypto/crc32c_generic fs/mbcache fs/jbd2/jbd2 fs/ext4/ext4"

die() {
	echo "guest.sh: $*" >&2
	exit 99
}

# Pick the bookworm 6.1 kernel the linux-image-amd64 metapackage points at
# (falling back to the newest 6.1.0-N-amd64 the archive lists).
kernel_package() {
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n 1)
	if [ -z "$pkg" ]; then
		pkg=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
			awk '{print $1}' | sort -V | tail -n 1)
	fi
	[ -n "$pkg" ] || return 1
	echo "$pkg"
}

cmd_prepare() {
	local cache=$1 pkg deb rel m src
	mkdir -p "$cache"
	if [ -f "$cache/ready" ]; then
		# a cache made before a module was added to the lists is made again
		local missing=
		for m in $MODULES_UIO $MODULES_FS $MODULES_NVME $MODULES_TCP; do
			[ -f "$cache/modules/$(basename "$m").ko" ] || missing=$m
		done
		if [ -z "$missing" ]; then
			cat "$cache/ready"
			return 0
		fi
		rm -f "$cache/ready"
	fi
	pkg=$(kernel_package) || {
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(kernel_package)
	} || die "no linux-image-6.1.0-*-amd64 package in the apt archive (apt-get update?)"
	rm -rf "$cache/pkg" "$cache/x"
	mkdir -p "$cache/pkg"
	(cd "$cache/pkg" && apt-get download -qq "$pkg" >/dev/null 2>&1) ||
		die "apt-get download $pkg failed"
	deb=$(find "$cache/pkg" -name '*.deb' | head -n 1)
	dpkg -x "$deb" "$cache/x" || die "dpkg -x $deb failed"
	rel=$(find "$cache/x/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | head -n 1)
	cp "$cache/x/boot/vmlinuz-$rel" "$cache/vmlinuz"
	mkdir -p "$cache/modules"
	for m in $MODULES_VFIO $MODULES_UIO $MODULES_FS $MODULES_NVME $MODULES_TCP; do
		src=$cache/x/lib/modules/$rel/kernel/$m.ko
		if [ -f "$src" ]; then
			cp "$src" "$cache/modules/"
		elif [ -f "$src.xz" ]; then
			# busybox insmod cannot load compressed modules
			xz -dc "$src.xz" >"$cache/modules/$(basename "$m").ko"
		elif [ "$m" != drivers/vfio/vfio_virqfd ]; then
			die "module $m missing from $pkg"
		fi
	done
	rm -rf "$cache/x" "$cache/pkg"
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
	cp "$cache"/modules/*.ko "$root/lib/modules/"
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
load() { for m in "$@"; do [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko $(modargs $m); done; }
# namespaces are scanned asynchronously after the driver binds
wait_dev() { i=0; while [ ! -e "$1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	echo "REGBUF-DEV $1 $([ -e "$1" ] && echo present || echo missing) after $i polls"; }
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
	export REGBUF_NG=/dev/ng0n1 REGBUF_BLK=/dev/nvme0n1 ;;
tcp)	load crc64 crc64_rocksoft_generic crc64-rocksoft crct10dif_common crct10dif_generic \
		crc-t10dif t10-pi nvme-core configfs nvme-fabrics nvme-tcp nvmet nvmet-tcp
	ip link set lo up
	mount -t configfs none /sys/kernel/config
	# null_blk's module parameters make nullb0; memory_backed keeps the data
	# 20 ms per I/O (timer completion): long enough to be in flight when the
	# test takes the target away
	insmod /lib/modules/null_blk.ko nr_devices=1 gb=1 bs=512 memory_backed=1 irqmode=2 \
		completion_nsec=20000000
	nqn=nqn.2026-11.org.regbuf:tcp
	t=/sys/kernel/config/nvmet
	mkdir $t/subsystems/$nqn
	echo 1 >$t/subsystems/$nqn/attr_allow_any_host
	mkdir $t/subsystems/$nqn/namespaces/1
	echo /dev/nullb0 >$t/subsystems/$nqn/namespaces/1/device_path
	echo 1 >$t/subsystems/$nqn/namespaces/1/enable
	mkdir $t/ports/1
	echo tcp >$t/ports/1/addr_trtype
	echo ipv4 >$t/ports/1/addr_adrfam
	echo 127.0.0.1 >$t/ports/1/addr_traddr
	echo 4420 >$t/ports/1/addr_trsvcid
	ln -s $t/subsystems/$nqn $t/ports/1/subsystems/$nqn
	# short timeouts: errors within seconds when the target goes away (the
	# defaults queue I/O for up to ctrl_loss_tmo=600 s)
	echo "transport=tcp,traddr=127.0.0.1,trsvcid=4420,nqn=$nqn,fast_io_fail_tmo=2,ctrl_loss_tmo=60,reconnect_delay=1" >/dev/nvme-fabrics
	wait_dev /dev/ng0n1
	export REGBUF_NG=/dev/ng0n1 REGBUF_BLK=/dev/nvme0n1 REGBUF_NVMET_PORT=$t/ports/1 REGBUF_NVMET_NQN=$nqn ;;
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
/bin/$REGBUF_BIN $(echo "${REGBUF_ARGS:-}" | tr , ' ') </dev/null
rc=$?
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
	local ns1="" ns2="" ns2img=""
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
		--ns2) ns2=$2 ;;
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
	if [ -n "$ns2" ]; then
		ns2img=$(mktemp /tmp/regbuf-nvme-img2.XXXXXX)
		truncate -s 64M "$ns2img"
		second=(-drive "file=$ns2img,if=none,id=nvm2,format=raw"
			-device "nvme-ns,drive=nvm2,nsid=2,$ns2")
	fi
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
	[ -n "$ns2img" ] && rm -f "$ns2img"
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

[ $# -ge 1 ] || die "usage: guest.sh prepare|initrd|boot ..."
sub=$1
shift
case $sub in
prepare) cmd_prepare "$@" ;;
initrd) cmd_initrd "$@" ;;
boot) cmd_boot "$@" ;;
*) die "unknown command $sub" ;;
esac
