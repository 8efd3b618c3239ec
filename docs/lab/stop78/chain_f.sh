for n in $(awk '{print $1$2}' listf); do
  while [ ! -f fresh/p_n_$n.nc ]; do sleep 15; done
  bash lwpn.sh $n wn8 0.8 net >> fw.log 2>&1
done
