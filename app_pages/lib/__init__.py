"""The pages' shared widgets, each of which draws with streamlit: the owner and the Streamlit session,
the sidebar's dataset, the run picker, the server's job queue and its status, pretrained weights, share
links, the measuring, judging, comparing, twin and sweep panels of Train DANN, the training movie and
Where it looks of Feature Space, pictures cached for the server.

Pages import these and ``explorer``; ``explorer`` never imports anything here.
"""
