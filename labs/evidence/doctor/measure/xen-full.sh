# The whole `pcipass doctor` table (and --json verdicts) in the xen lab, for the IOMMU given
# by LAB_IOMMU. Run: LAB_IOMMU=intel|none labs/xen/run.sh 'bash labs/evidence/doctor/measure/xen-full.sh'
cd /mnt/share || exit 1
export PYTHONPATH=$PWD/src PYTHONDONTWRITEBYTECODE=1 COLUMNS=250
echo "== $(date -u +%FT%TZ) $(xl info | grep -e xen_version -e virt_caps | tr -s ' ' | tr '\n' ' ')"
modprobe xen-pciback
echo '==$ pcipass doctor 02:00.0'; python3 -m pcipass doctor 02:00.0; echo rc=$?
echo '==$ pcipass doctor --json 02:00.0 (check subject status)'
python3 -m pcipass doctor --json 02:00.0 | python3 -c '
import json, sys
for c in json.load(sys.stdin)["checks"]:
    print(c["check"], c["subject"], c["status"])'
