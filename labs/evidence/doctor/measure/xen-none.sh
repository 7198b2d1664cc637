export PYTHONPATH=$PWD/src PYTHONDONTWRITEBYTECODE=1
xl info | grep -e virt_caps -e xen_commandline; xl dmesg | grep -i -e "I/O virt" -e remap -e "VT-d" -e "AMD-Vi" | head; echo class_iommu=$(ls /sys/class/iommu | wc -l)
echo '==$ pcipass doctor 02:00.0'; python3 -m pcipass doctor 02:00.0; echo rc=$?
echo '==$ pcipass doctor --explain (swiotlb + passthrough not supported)'; python3 -m pcipass doctor --explain "$(printf 'xen:swiotlb_xen: Failed to get contiguous memory for DMA from Xen! (rc:-12)\nlibxl: error: libxl_create.c:1160:libxl__domain_config_setdefault: passthrough not supported on this platform')"; echo rc=$?
